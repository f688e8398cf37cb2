import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/util/errors.js';
import { parseCount } from './options.js';

test('parseCount takes the fallback when the option is absent', () => {
  assert.equal(parseCount('--reps', undefined, 5, 1), 5);
});

test('parseCount accepts decimal digits within bounds', () => {
  assert.equal(parseCount('--reps', '7', 5, 1, 10), 7);
  assert.equal(parseCount('--exits', '100000', 0, 1), 100000);
});

test('parseCount rejects other spellings and out-of-range values', () => {
  for (const text of ['', '-1', '1e5', '0x10', '1.5', ' 3', 'five']) {
    assert.throws(() => parseCount('--reps', text, 5, 0), UsageError, text);
  }
  assert.throws(() => parseCount('--reps', '0', 5, 1), /between 1 and/);
  assert.throws(() => parseCount('--reps', '11', 5, 1, 10), /between 1 and 10/);
});
