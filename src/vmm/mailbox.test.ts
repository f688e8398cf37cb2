import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { AccessKind, MailboxClient, MailboxServer, createMailbox } from './mailbox.js';
import type { MailboxOp, MailboxResult, MailboxWorkerInit } from './mailbox-test-worker.js';

const WORKER = new URL('./mailbox-test-worker.js', import.meta.url);

function runClient(init: MailboxWorkerInit): Promise<MailboxResult[]> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { workerData: init });
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => { if (code !== 0) reject(new Error(`worker exited with ${code}`)); });
  });
}

const tick = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('mailbox: writes and reads served on the main thread, an error in a device reads as all ones', async () => {
  const sab = createMailbox();
  const seen: string[] = [];
  const errors: unknown[] = [];
  const server = new MailboxServer([sab], (kind, addr, data) => {
    seen.push(`${kind}:${addr.toString(16)}:${[...data].join(',')}`);
    if (addr === 0xbad) throw new Error('device failed');
    if (kind === AccessKind.PioRead || kind === AccessKind.MmioRead) data.set([1, 2, 3, 4].slice(0, data.length));
  }, (err) => errors.push(err));
  server.start();
  const ops: MailboxOp[] = [
    { kind: AccessKind.PioWrite, addr: 0x3f8, bytes: [0x41] },
    { kind: AccessKind.MmioRead, addr: 0x1_0000_1000, bytes: [0, 0, 0, 0] },
    { kind: AccessKind.PioRead, addr: 0xbad, bytes: [0, 0] },
  ];
  const results = await runClient({ sab, ops });
  server.close();
  assert.deepEqual(results.map((r) => [r.ok, r.bytes]), [[true, [0x41]], [true, [1, 2, 3, 4]], [true, [0xff, 0xff]]]);
  assert.deepEqual(seen, ['1:3f8:65', '2:100001000:255,255,255,255', '0:bad:255,255']);
  assert.equal(errors.length, 1);
});

test('mailbox abandon: the vCPU gives up, and the device never sees the request it gave up on', async () => {
  const sab = createMailbox();
  const client = new MailboxClient(sab);
  const data = Uint8Array.of(0x55);
  let polls = 0;
  // No server is running: the request waits until abandon() says to stop.
  assert.equal(client.call(AccessKind.PioWrite, 0x3f8, data, () => ++polls >= 2), false);
  assert.deepEqual([...data], [0xff]);
  let handled = 0;
  const server = new MailboxServer([sab], () => { handled++; }, () => {});
  server.start();
  await tick();
  server.close();
  assert.equal(handled, 0, 'a write the vCPU abandoned reached the device');
});

test('mailbox close: a request pending at close is answered with all ones, without reaching the device', async () => {
  const sab = createMailbox();
  let handled = 0;
  const server = new MailboxServer([sab], () => { handled++; }, () => {});
  // The client's request waits: the server has not started.
  const pending = runClient({ sab, ops: [{ kind: AccessKind.MmioRead, addr: 0x1000, bytes: [0, 0, 0, 0] }] });
  await tick(100);
  server.close();
  const [r] = await pending;
  assert.equal(r!.ok, false);
  assert.deepEqual(r!.bytes, [0xff, 0xff, 0xff, 0xff]);
  assert.equal(handled, 0);
  assert.ok(r!.ms < 5000);
});

test('mailbox close: a request made after close fails at once, without waiting for abandon()', async () => {
  const sab = createMailbox();
  const server = new MailboxServer([sab], () => assert.fail('served after close'), () => {});
  server.start();
  server.close();
  // abandon() would end the wait only after 20 polls of 100 ms.
  const results = await runClient({ sab, ops: [{ kind: AccessKind.PioRead, addr: 0x60, bytes: [0] }, { kind: AccessKind.PioWrite, addr: 0x60, bytes: [1] }], abandonAfterPolls: 20 });
  assert.deepEqual(results.map((r) => [r.ok, r.bytes]), [[false, [0xff]], [false, [0xff]]]);
  for (const r of results) assert.ok(r.ms < 500, `waited ${r.ms.toFixed(0)} ms`);
});
