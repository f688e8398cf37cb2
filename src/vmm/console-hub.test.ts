/** ConsoleHub: the ring keeps exactly the newest bytes, and listeners see what follows it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConsoleHub } from './console-hub.js';

function concat(chunks: Uint8Array[]): Uint8Array {
  return Uint8Array.from(chunks.flatMap((c) => [...c]));
}

test('the ring holds the last `capacity` bytes of everything published, in order', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 64 }), fc.array(fc.uint8Array({ maxLength: 150 }), { maxLength: 30 }), (capacity, chunks) => {
      const hub = new ConsoleHub(capacity);
      for (const chunk of chunks) hub.publish(chunk);
      const all = concat(chunks);
      assert.deepEqual(hub.recent(), all.subarray(Math.max(0, all.length - capacity)));
      assert.equal(hub.publishedBytes, all.length);
    }),
  );
});

test('an attached listener gets the recent bytes, then every later chunk: together the whole stream tail without gap or overlap', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 20 }), fc.nat(20), (chunks, split) => {
      const at = Math.min(split, chunks.length);
      const hub = new ConsoleHub(1 << 16);
      chunks.slice(0, at).forEach((c) => hub.publish(c));
      const seen: Uint8Array[] = [];
      const attachment = hub.attach((c) => seen.push(Uint8Array.from(c)));
      chunks.slice(at).forEach((c) => hub.publish(c));
      assert.deepEqual(concat([attachment.recent, ...seen]), concat(chunks));
    }),
  );
});

test('detach stops delivery, and a listener that throws is dropped without disturbing the others', () => {
  const hub = new ConsoleHub(16);
  const good: number[] = [];
  const gone: number[] = [];
  const detached = hub.attach((c) => gone.push(c.length));
  hub.attach(() => {
    throw new Error('broken client');
  });
  hub.attach((c) => good.push(c.length));
  assert.equal(hub.listenerCount, 3);
  hub.publish(new Uint8Array(3));
  assert.equal(hub.listenerCount, 2, 'the throwing listener is gone');
  detached.detach();
  detached.detach();
  hub.publish(new Uint8Array(5));
  assert.deepEqual(good, [3, 5]);
  assert.deepEqual(gone, [3]);
  assert.equal(hub.listenerCount, 1);
});

test('the ring capacity must be a positive integer', () => {
  assert.throws(() => new ConsoleHub(0), RangeError);
  assert.throws(() => new ConsoleHub(1.5), RangeError);
});
