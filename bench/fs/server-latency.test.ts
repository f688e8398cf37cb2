import { test } from 'node:test';
import assert from 'node:assert/strict';
import { measureServerLatency } from './server-latency.js';

test('fs-server-latency measures both request kinds (a short run; every reply is checked inside)', async () => {
  const r = await measureServerLatency(200, 2);
  assert.equal(r.bench, 'fs-server-latency');
  assert.ok(r.getattrUs > 0 && Number.isFinite(r.getattrUs));
  assert.ok(r.read4kUs > 0 && Number.isFinite(r.read4kUs));
});
