import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DebugExit, debugExitStatus } from './debug-exit.js';

test('a write of V exits with (V << 1) | 1', () => {
  const statuses: number[] = [];
  const dev = new DebugExit({ onExit: (s) => statuses.push(s) });
  dev.write(0, Uint8Array.of(0x00));
  dev.write(0, Uint8Array.of(0x01));
  dev.write(0, Uint8Array.of(0x10));
  dev.write(1, Uint8Array.of(0x7f));
  dev.write(0, Uint8Array.of(0x34, 0x12));
  assert.deepEqual(statuses, [1, 3, 0x21, 0xff, 0x2469]);
});

test('wide writes use the low 4 bytes and never overflow', () => {
  assert.equal(debugExitStatus(Uint8Array.of(0xff, 0xff, 0xff, 0xff)), 0x1_ffff_ffff);
  assert.equal(debugExitStatus(Uint8Array.of(1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff)), 3);
});

test('reads return 0xff; an empty write does nothing', () => {
  let calls = 0;
  const dev = new DebugExit({ onExit: () => calls++ });
  const d = new Uint8Array(2);
  dev.read(0, d);
  assert.deepEqual([...d], [0xff, 0xff]);
  dev.write(0, new Uint8Array(0));
  assert.equal(calls, 0);
});
