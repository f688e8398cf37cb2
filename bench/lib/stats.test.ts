import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { marginalCostPerExit, median, roundTo } from './stats.js';

test('median of odd and even samples', () => {
  assert.equal(median([5]), 5);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]), RangeError);
});

test('median does not reorder its input', () => {
  const samples = [3, 1, 2];
  median(samples);
  assert.deepEqual(samples, [3, 1, 2]);
});

test('median lies between the minimum and the maximum, whatever the order', () => {
  fc.assert(
    fc.property(fc.array(fc.double({ noNaN: true, min: -1e12, max: 1e12 }), { minLength: 1 }), (samples) => {
      const m = median(samples);
      assert.ok(m >= Math.min(...samples) && m <= Math.max(...samples));
      assert.equal(median([...samples].reverse()), m);
    }),
  );
});

test('marginal cost cancels a fixed start-up cost', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 1e9 }),
      fc.integer({ min: 1, max: 100_000 }),
      fc.integer({ min: 0, max: 10_000 }),
      fc.integer({ min: 1, max: 100_000 }),
      (fixed, perExit, shortExits, extra) => {
        const longExits = shortExits + extra;
        const cost = marginalCostPerExit(fixed + perExit * shortExits, shortExits, fixed + perExit * longExits, longExits);
        assert.ok(Math.abs(cost - perExit) < 1e-6 * perExit);
      },
    ),
  );
});

test('marginal cost needs more exits in the long run', () => {
  assert.throws(() => marginalCostPerExit(1, 1000, 2, 1000), RangeError);
  assert.throws(() => marginalCostPerExit(1, 1000, 2, 10), RangeError);
});

test('roundTo', () => {
  assert.equal(roundTo(1.23456, 2), 1.23);
  assert.equal(roundTo(9506.25, 1), 9506.3);
});
