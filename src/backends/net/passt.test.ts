import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessSync, constants } from 'node:fs';
import * as path from 'node:path';
import { NetStatus } from '../../devices/net.js';
import { IovecList } from '../../memory/iovec-list.js';
import * as sys from '../../sys/libc.js';
import { PasstBackend, passtArguments } from './passt.js';

/** passt on $PATH; scripts/test-deps.sh installs it, so its absence is a failure, not a skip. */
function passtPath(): string {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    const file = path.join(dir, 'passt');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // next
    }
  }
  assert.fail('passt is not installed (scripts/test-deps.sh installs it)');
}

/** An iovec list over a buffer that never moves (a SharedArrayBuffer). */
function iovOver(buffer: Uint8Array): IovecList {
  const iov = new IovecList(4);
  iov.push(Number(sys.addressOf(buffer)), buffer.length);
  return iov;
}

async function receiveFrame(backend: PasstBackend, into: Uint8Array, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = backend.receive(iovOver(into));
    if (status === NetStatus.Ok) return backend.lastBytes;
    assert.equal(status, NetStatus.WouldBlock, `receive: ${backend.lastError}`);
    if (Date.now() > deadline) assert.fail('no frame from passt in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('passt arguments: fd, forwards, and no DNS for the guest when asked', () => {
  assert.deepEqual(passtArguments(3, {}), ['-f', '-q', '-F', '3']);
  assert.deepEqual(passtArguments(3, { tcpForwards: ['127.0.0.1/8080:80'], udpForwards: ['127.0.0.1/53:5353'], dns: false }),
    ['-f', '-q', '-F', '3', '-t', '127.0.0.1/8080:80', '-u', '127.0.0.1/53:5353', '-D', 'none', '-S', 'none', '--no-dhcp-dns', '--no-dhcp-search']);
});

test('passt answers an ARP request over the socket pair; its exit is seen as end of stream', async () => {
  const backend = PasstBackend.open({ passt: passtPath(), dns: false });
  try {
    // ARP who-has 10.0.2.2 from 52:54:00:12:34:56: passt answers for any address but the guest's own.
    const mac = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
    const frame = new Uint8Array(new SharedArrayBuffer(42));
    frame.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, ...mac, 0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1, ...mac, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 2, 2]);
    const deadline = Date.now() + 5000;
    let sent = NetStatus.WouldBlock as NetStatus;
    while (sent === NetStatus.WouldBlock && Date.now() < deadline) sent = backend.send(iovOver(frame));
    assert.equal(sent, NetStatus.Ok);
    const reply = new Uint8Array(new SharedArrayBuffer(65536));
    let n = 0;
    // passt may send other frames first (router advertisements); look for the ARP reply.
    for (let i = 0; i < 20; i++) {
      n = await receiveFrame(backend, reply, 5000);
      if (n >= 42 && reply[12] === 0x08 && reply[13] === 0x06) break;
    }
    assert.ok(n >= 42, `an ARP frame came back (${n} bytes)`);
    assert.deepEqual([...reply.subarray(0, 6)], mac, 'addressed to the guest');
    assert.equal(reply[21], 2, 'an ARP reply');
    assert.deepEqual([...reply.subarray(28, 32)], [10, 0, 2, 2], 'for the address asked');
    assert.equal(backend.exitReason, '');
    process.kill(backend.pid!, 'SIGKILL');
    const until = Date.now() + 5000;
    let status: NetStatus = NetStatus.WouldBlock;
    while (status === NetStatus.WouldBlock && Date.now() < until) {
      status = backend.receive(iovOver(reply));
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(status, NetStatus.Closed);
    assert.match(backend.lastError, /passt exited \(signal SIGKILL\)|end of stream/);
  } finally {
    backend.close();
  }
});
