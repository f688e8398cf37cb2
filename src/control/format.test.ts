import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, formatUptime, renderTable } from './format.js';

test('formatBytes uses binary units like 512M and 1.5G', () => {
  assert.equal(formatBytes(0), '0B');
  assert.equal(formatBytes(1023), '1023B');
  assert.equal(formatBytes(1024), '1K');
  assert.equal(formatBytes(512 * 1024 ** 2), '512M');
  assert.equal(formatBytes(1.5 * 1024 ** 3), '1.5G');
  assert.equal(formatBytes(1024 ** 4), '1T');
  assert.equal(formatBytes(150.4 * 1024 ** 2), '150M');
  assert.equal(formatBytes(-1), '?');
  assert.equal(formatBytes(Number.NaN), '?');
});

test('formatUptime is compact: 42s, 5m07s, 1h02m, 3d04h', () => {
  assert.equal(formatUptime(0), '0s');
  assert.equal(formatUptime(42_999), '42s');
  assert.equal(formatUptime(307_000), '5m07s');
  assert.equal(formatUptime(3_720_000), '1h02m');
  assert.equal(formatUptime((3 * 24 + 4) * 3_600_000), '3d04h');
  assert.equal(formatUptime(-5), '?');
});

test('renderTable aligns columns', () => {
  assert.equal(
    renderTable(['A', 'NUM'], [['long', '1'], ['x', '200']], new Set([1])),
    'A     NUM\nlong    1\nx     200\n',
  );
});
