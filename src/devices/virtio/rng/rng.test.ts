import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MockDriver } from '../queue/mock-driver.js';
import { VirtioRng } from './device.js';

test('fills writable buffers with random bytes, bounded per request', () => {
  const rng = new VirtioRng({ maxBytesPerRequest: 100_000 });
  const driver = new MockDriver({ size: 16, indirectDesc: true, dataBytes: 1 << 20 });
  rng.activate(rng.features, [driver.createQueue()]);
  const a = driver.addChain([{ len: 64, writable: true }, { len: 64, writable: true }]);
  const b = driver.addChain([{ len: 150_000, writable: true }], { indirect: true });
  const c = driver.addChain([{ data: new Uint8Array(4), writable: false }]);
  const result = rng.queueNotified(0);
  assert.equal(result.notify, true);
  assert.deepEqual(driver.takeUsed(), [{ id: a.head, len: 128 }, { id: b.head, len: 100_000 }, { id: c.head, len: 0 }]);
  const first = Buffer.concat(a.placed.map((p) => driver.read(p.addr, p.len)));
  assert.ok(new Set(first).size > 32, 'bytes look random');
  const big = driver.read(b.placed[0]!.addr, 150_000);
  assert.ok(big.subarray(99_000, 100_000).some((x) => x !== 0), 'filled across the 64 KiB getRandomValues limit');
  assert.ok(big.subarray(100_000).every((x) => x === 0), 'nothing beyond the per-request bound');
  assert.deepEqual(rng.counters, { requests: 3, bytes: 100_128, errors: 0 });
});
