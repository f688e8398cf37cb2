/**
 * Raw frames through virtio-net to a TAP (issue 10, "a ring-3 test
 * guest"): the net-bench guest sends and receives test frames through
 * `--net tap=IFNAME`, on a TAP in a network namespace this test makes; the
 * host side (bench/net/tap-loop.c on an AF_PACKET socket) checks every
 * byte of what the guest sent and injects what it receives, and the guest
 * checks every byte of those (verify=1).

 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { guestPath, REPO_ROOT, requireKvm, runTkvm } from '../testing/kvm.js';
import { startTapLoopPeer } from '../testing/tap-loop.js';
import { requireNetns, TestNetns } from '../testing/netns.js';

const TAP = 'tkvmt0';

function buildTapLoop(): { binary: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-tap-loop-'));
  const binary = path.join(dir, 'tap-loop');
  execFileSync(process.env['CC'] || 'cc', ['-O2', '-o', binary, path.join(REPO_ROOT, 'bench/net/tap-loop.c')]);
  return { binary, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

function guestArgs(cmdline: string): string[] {
  return ['run', '--debug-exit', '--kernel', guestPath('net-bench'), '--mem', '256M', '--net', `tap=${TAP}`, '--cmdline', cmdline];
}

test('net-bench runs in ring 3, rejects bad options and names a missing virtio-net device', { timeout: 60_000 }, async (t) => {
  if (!requireKvm(t, 'net-bench')) return;
  const base = ['run', '--debug-exit', '--kernel', guestPath('net-bench'), '--mem', '256M', '--cmdline'];
  const bad = await runTkvm([...base, 'mode=tx size=59']);
  assert.equal(bad.status, 35);
  assert.match(bad.stdout, /FAIL: net-bench: size= must be a number from 60 to 65536/);
  const small = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('net-bench'), '--mem', '32M', '--cmdline', 'mode=tx']);
  assert.equal(small.status, 35);
  assert.match(small.stdout, /FAIL: net-bench: RAM .* is not usable/);
  const none = await runTkvm([...base, 'mode=rx size=1500']);
  assert.equal(none.status, 35);
  assert.match(none.stdout, /FAIL: no virtio device 1af4:1041 on PCI bus 0/);
});

test('the ring-3 guest sends raw frames through virtio-net to a TAP and receives frames from it, bytes checked', { timeout: 180_000 }, async (t) => {
  if (!requireKvm(t, 'net-bench') || !requireNetns(t)) return;
  const tapLoop = buildTapLoop();
  const ns = TestNetns.create();
  const peers: ChildProcess[] = [];
  try {
    ns.exec('sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    ns.ip('tuntap', 'add', 'dev', TAP, 'mode', 'tap');
    ns.ip('link', 'set', TAP, 'mtu', '65521', 'up');
    ns.enter();

    for (const size of [60, 1500, 65534]) {
      const count = size > 9000 ? 50 : 300;
      const capture = await startTapLoopPeer(tapLoop.binary, ['capture', TAP, String(size), String(count), '60']);
      peers.push(capture.child);
      const tx = await runTkvm(guestArgs(`mode=tx size=${size} count=${count} depth=32 passes=1`), { timeoutMs: 90_000 });
      assert.equal(tx.status, 33, `tx ${size}: ${tx.stdout}${tx.stderr}`);
      assert.match(tx.stdout, new RegExp(`net-bench pass 1 mode=tx frames=${count} bytes=${count * size} .* seq=0\\.\\.${count - 1}`));
      const captured = await capture.done;
      assert.equal(captured.status, 0, `capture ${size}: ${captured.stderr}`);
      assert.match(captured.stdout, new RegExp(`tap-loop capture frames=${count} bytes=${count * size} other=\\d+ first=0 last=${count - 1}`));
    }

    for (const size of [60, 1500, 65534]) {
      let injector: ChildProcess | null = null;
      const rx = await runTkvm(guestArgs(`mode=rx size=${size} count=200 depth=32 passes=1 verify=1`), {
        timeoutMs: 90_000,
        onStdout: (out) => {
          if (injector === null && out.includes('net-bench ready\n')) peers.push(injector = spawn(tapLoop.binary, ['inject', TAP, String(size)], { stdio: 'ignore' }));
        },
      });
      (injector as ChildProcess | null)?.kill('SIGTERM');
      assert.equal(rx.status, 33, `rx ${size}: ${rx.stdout}${rx.stderr}`);
      assert.match(rx.stdout, new RegExp(`net-bench pass 1 mode=rx frames=200 bytes=${200 * size} `));
    }
  } finally {
    for (const peer of peers) if (peer.exitCode === null && peer.signalCode === null) peer.kill('SIGKILL');
    ns.destroy();
    tapLoop.remove();
  }
});
