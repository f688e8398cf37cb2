import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildTestFrame, checkTestFrame, GUEST_MAC, HOST_MAC } from './frames.js';

test('test frames round-trip, and other traffic is told apart from damaged test frames', () => {
  fc.assert(fc.property(fc.integer({ min: 22, max: 3000 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.nat(), (size, seq, at) => {
    const frame = buildTestFrame(size, seq, GUEST_MAC);
    assert.equal(frame.length, size);
    assert.equal(checkTestFrame(frame, GUEST_MAC), seq);
    assert.equal(checkTestFrame(frame, HOST_MAC), null, 'another source');
    const damaged = Uint8Array.from(frame);
    const j = 22 + (at % (size - 21));
    if (j < size) {
      damaged[j] = damaged[j]! ^ 0x40;
      assert.throws(() => checkTestFrame(damaged, GUEST_MAC), /byte/);
    }
    const otherType = Uint8Array.from(frame);
    otherType[13] = 0;
    assert.equal(checkTestFrame(otherType, GUEST_MAC), null);
  }));
});

test('the layout the guest and tap-loop.c use', () => {
  const frame = buildTestFrame(30, 0x0102, HOST_MAC);
  assert.deepEqual([...frame], [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x74, 0x6b, 0x76, 0x6d, 0x01, 0x88, 0xb5,
    0x02, 0x01, 0, 0, 0, 0, 0, 0,
    (22 * 7 + 1) & 0xff, (23 * 7 + 1) & 0xff, (24 * 7 + 1) & 0xff, (25 * 7 + 1) & 0xff, (26 * 7 + 1) & 0xff, (27 * 7 + 1) & 0xff, (28 * 7 + 1) & 0xff, (29 * 7 + 1) & 0xff,
  ]);
  assert.throws(() => buildTestFrame(10, 0, HOST_MAC), RangeError);
});
