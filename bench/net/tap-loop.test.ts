/**
 * tap-loop.c's modes on a real TAP in a namespace of the test's own, with
 * tkvm's TAP backend standing in for the guest: what `capture` accepts and
 * `inject` sends are the frames of frames.ts, and the tx/rx baselines run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TapBackend } from '../../src/backends/net/tap.js';
import { NetStatus } from '../../src/devices/net.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { IovecList } from '../../src/memory/iovec-list.js';
import { startTapLoopPeer } from '../../src/testing/tap-loop.js';
import { requireNetns, TestNetns } from '../../src/testing/netns.js';
import { buildCProgram } from '../lib/build-c.js';
import { repoRoot } from '../lib/paths.js';
import { buildTestFrame, checkTestFrame, GUEST_MAC, HOST_MAC } from './frames.js';
import { parseInjected, parseTapLoopPasses } from './output.js';

const TAP = 'tkvmt0';
const HEADER = 12;

/** Sends header + frame from "guest RAM" through the backend. */
function sendFrame(tap: TapBackend, memory: GuestMemory, frame: Uint8Array): NetStatus {
  memory.fill(0, HEADER);
  memory.write(HEADER, frame);
  const iov = new IovecList();
  for (const r of memory.hostRanges(0, HEADER + frame.length)) iov.push(Number(r.hostAddr), r.len);
  return tap.send(iov);
}

test('tap-loop: capture checks the guest frames, inject makes host frames, tx/rx baselines run', { timeout: 60_000 }, async (t) => {
  if (!requireNetns(t)) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-tap-loop-'));
  const ns = TestNetns.create();
  const memory = GuestMemory.allocate([{ guestBase: 0, size: 1 << 20 }]);
  const peers: ChildProcess[] = [];
  try {
    const binary = await buildCProgram(path.join(repoRoot(), 'bench/net/tap-loop.c'), path.join(dir, 'tap-loop'));
    ns.exec('sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    ns.ip('tuntap', 'add', 'dev', TAP, 'mode', 'tap');
    ns.ip('link', 'set', TAP, 'mtu', '65521', 'up');
    ns.enter();
    const tap = TapBackend.open({ name: TAP });
    try {
      // The guest's TX, seen by the host: every byte checked, in order.
      for (const size of [60, 65535]) {
        const capture = await startTapLoopPeer(binary, ['capture', TAP, String(size), '50', '20']);
        peers.push(capture.child);
        for (let seq = 0; seq < 50; seq++) assert.equal(sendFrame(tap, memory, buildTestFrame(size, seq, GUEST_MAC)), NetStatus.Ok, tap.lastError);
        const result = await capture.done;
        assert.equal(result.status, 0, result.stderr);
        assert.match(result.stdout, new RegExp(`tap-loop capture frames=50 bytes=${50 * size} other=\\d+ first=0 last=49`));
      }
      // ...and a damaged frame makes it fail.
      const capture = await startTapLoopPeer(binary, ['capture', TAP, '100', '5', '20']);
      peers.push(capture.child);
      const damaged = buildTestFrame(100, 0, GUEST_MAC);
      damaged[77] = damaged[77]! ^ 1;
      assert.equal(sendFrame(tap, memory, damaged), NetStatus.Ok);
      const failed = await capture.done;
      assert.equal(failed.status, 1);
      assert.match(failed.stderr, /frame 0 byte 77/);

      // The host's injected frames, received through the backend as the device would.
      const inject = await startTapLoopPeer(binary, ['inject', TAP, '1500']);
      peers.push(inject.child);
      const received: number[] = [];
      const iov = new IovecList();
      for (const r of memory.hostRanges(0x10000, HEADER + 1500)) iov.push(Number(r.hostAddr), r.len);
      const deadline = Date.now() + 10_000;
      while (received.length < 100 && Date.now() < deadline) {
        const status = tap.receive(iov);
        if (status === NetStatus.WouldBlock) {
          await sleep(1);
          continue;
        }
        assert.equal(status, NetStatus.Ok, tap.lastError);
        assert.equal(tap.lastBytes, HEADER + 1500);
        const seq = checkTestFrame(memory.read(0x10000 + HEADER, tap.lastBytes - HEADER), HOST_MAC);
        if (seq !== null) received.push(seq);
      }
      inject.child.kill('SIGTERM');
      const injected = await inject.done;
      assert.equal(received.length, 100);
      assert.ok(received.every((seq, i) => i === 0 || seq > received[i - 1]!), 'in order (the TAP may drop, never reorder)');
      assert.ok((parseInjected(injected.stdout) ?? 0) >= 100, injected.stdout);
    } finally {
      tap.close();
    }

    // The C baselines attach to the TAP themselves.
    const tx = parseTapLoopPasses(execFileSync(binary, ['tx', TAP, '64', '1000', '2'], { encoding: 'utf8' }), 'tx');
    assert.deepEqual(tx.map((p) => [p.pass, p.frames, p.bytes]), [[1, 1000, 64000], [2, 1000, 64000]]);
    const rx = parseTapLoopPasses(execFileSync(binary, ['rx', TAP, '1500', '1000', '1'], { encoding: 'utf8', timeout: 20_000 }), 'rx');
    assert.deepEqual(rx.map((p) => [p.pass, p.frames, p.bytes]), [[1, 1000, 1_500_000]]);
  } finally {
    for (const peer of peers) if (peer.exitCode === null && peer.signalCode === null) peer.kill('SIGKILL');
    memory.close();
    ns.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
