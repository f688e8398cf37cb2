import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNsPerCall } from './syscall.js';

test('the per-call cost is read from syscall-test bench output', () => {
  assert.equal(parseNsPerCall('x\nsyscall-test: bench getpid calls=10000 total_ns=3147761303 ns_per_call=314776\n'), 314776);
  assert.equal(parseNsPerCall('syscall-test: all ok'), null);
});
