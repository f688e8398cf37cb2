import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MockDriver } from '../queue/mock-driver.js';
import { featureMask, hasFeature } from '../types.js';
import { ConsoleConfigOffset, ConsoleFeature, VirtioConsole } from './device.js';

function setup(options: Partial<ConstructorParameters<typeof VirtioConsole>[0]> = {}) {
  const out: Uint8Array[] = [];
  const dev = new VirtioConsole({ output: (b) => out.push(b), ...options });
  const rx = new MockDriver({ size: 8, eventIdx: true });
  const tx = new MockDriver({ size: 8, indirectDesc: true });
  dev.activate(dev.features, [rx.createQueue(), tx.createQueue()]);
  return { console: dev, rx, tx, out, text: () => Buffer.concat(out).toString() };
}

test('transmitq hands guest bytes to the output callback', () => {
  const { console, tx, text } = setup();
  tx.addChain([{ data: Buffer.from('hello, '), writable: false }, { data: Buffer.from('world'), writable: false }]);
  tx.addChain([{ data: Buffer.from('\n'), writable: false }], { indirect: true });
  const r = console.queueNotified(1);
  assert.equal(r.notify, true);
  assert.equal(text(), 'hello, world\n');
  assert.deepEqual(tx.takeUsed().map((u) => u.len), [0, 0]);
  assert.equal(console.counters.transmittedBytes, 13);
});

test('receiveq delivers queued input only when the guest has buffers, across buffer boundaries', () => {
  const { console, rx } = setup();
  assert.equal(console.queueInput(Buffer.from('abc')), true);
  assert.equal(console.receive().notify, false, 'no buffers yet: nothing delivered');
  console.queueInput(Buffer.from('defgh'));
  const a = rx.addChain([{ len: 5, writable: true }]);
  const b = rx.addChain([{ len: 16, writable: true }]);
  const c = rx.addChain([{ len: 16, writable: true }]);
  assert.equal(console.receive().notify, true);
  const used = rx.takeUsed();
  assert.deepEqual(used, [{ id: a.head, len: 5 }, { id: b.head, len: 3 }]);
  assert.equal(Buffer.from(rx.read(a.placed[0]!.addr, 5)).toString(), 'abcde');
  assert.equal(Buffer.from(rx.read(b.placed[0]!.addr, 3)).toString(), 'fgh');
  assert.equal(console.pendingInputBytes, 0);
  console.queueInput(Buffer.from('!'));
  console.receive();
  assert.deepEqual(rx.takeUsed(), [{ id: c.head, len: 1 }]);
});

test('input beyond the pending limit is dropped and counted', () => {
  const { console } = setup({ maxPendingInput: 4 });
  assert.equal(console.queueInput(Buffer.from('abcdef')), false);
  assert.equal(console.pendingInputBytes, 4);
  assert.equal(console.counters.droppedInputBytes, 2);
});

test('config: size, max_nr_ports, emergency write; resize asks for a config interrupt', () => {
  const { console, text } = setup({ size: { cols: 80, rows: 25 } });
  assert.ok(hasFeature(console.features, ConsoleFeature.SIZE));
  assert.ok(!hasFeature(console.features, ConsoleFeature.MULTIPORT));
  const cfg = new Uint8Array(12);
  console.readConfig(0, cfg);
  const v = new DataView(cfg.buffer);
  assert.deepEqual([v.getUint16(0, true), v.getUint16(2, true), v.getUint32(4, true)], [80, 25, 1]);
  console.writeConfig(ConsoleConfigOffset.emergWr, Uint8Array.of(0x21, 0, 0, 0));
  assert.equal(text(), '!');
  assert.equal(console.resize(100, 40), true);
  console.readConfig(0, cfg);
  assert.deepEqual([v.getUint16(0, true), v.getUint16(2, true)], [100, 40]);
  console.activate(featureMask(32), [null, null]);
  assert.equal(console.resize(90, 30), false, 'driver did not negotiate SIZE');
  assert.equal(setup().console.resize(1, 1), false, 'size not offered');
});

test('oversized transmit chains are cut at the per-chain cap', () => {
  const { console, tx, out } = setup({ maxTransmitPerChain: 10 });
  tx.addChain([{ data: new Uint8Array(25).fill(65), writable: false }]);
  console.queueNotified(1);
  assert.equal(Buffer.concat(out).length, 10);
  assert.equal(console.counters.droppedOutputBytes, 15);
});
