import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TkvmError } from '../../src/util/errors.js';
import { measure, parseNetArgs } from './net.js';
import { guestCmdline, tkvmArgs } from './sides.js';

test('defaults: tx and rx at 64, 1500 and 65534 bytes', () => {
  const o = parseNetArgs([]);
  assert.deepEqual(o.cases.map((c) => `${c.direction}${c.size}:${c.count}`), ['tx64:200000', 'tx1500:100000', 'tx65534:20000', 'rx64:200000', 'rx1500:100000', 'rx65534:20000']);
  assert.deepEqual([o.passes, o.reps, o.depth, o.check], [2, 3, 64, false]);
  assert.deepEqual(o.sides, ['c', 'tkvm']);
});

test('options: directions, sizes, count, only; bad values are usage errors', () => {
  const o = parseNetArgs(['--directions', 'rx', '--sizes', '1500,64,1500', '--count', '7', '--only', 'c', '--check']);
  assert.deepEqual(o.cases, [{ direction: 'rx', size: 64, count: 7 }, { direction: 'rx', size: 1500, count: 7 }]);
  assert.deepEqual(o.sides, ['c']);
  assert.equal(o.check, true);
  for (const bad of [['--directions', 'up'], ['--sizes', '59'], ['--sizes', '65536'], ['--only', 'x'], ['--depth', '129'], ['--bogus']]) {
    assert.throws(() => parseNetArgs(bad), (e: unknown) => e instanceof TkvmError && e.exitCode === 2, bad.join(' '));
  }
});

test('the guest command line and tkvm arguments', () => {
  const spec = { direction: 'rx' as const, size: 1500, count: 10, passes: 2, depth: 32 };
  assert.equal(guestCmdline(spec), 'mode=rx size=1500 count=10 depth=32 passes=2');
  assert.deepEqual(tkvmArgs('cli.js', 'g.elf', 'tkvmb0', spec).slice(1, 9), ['run', '--debug-exit', '--kernel', 'g.elf', '--mem', '256M', '--net', 'tap=tkvmb0']);
});

test('measure: alternating order, a failing side is dropped for that case and its error kept', async () => {
  const o = parseNetArgs(['--sizes', '64', '--directions', 'tx', '--reps', '3']);
  const calls: string[] = [];
  const errors: Record<string, string> = {};
  const pass = { pass: 2, frames: 1, bytes: 64, ns: 100 };
  const samples = await measure(o, {
    c: async () => { calls.push('c'); return [pass]; },
    tkvm: async () => { calls.push('tkvm'); throw new Error('no --net'); },
  }, errors);
  assert.deepEqual(calls, ['c', 'tkvm', 'c', 'c']);
  assert.equal(samples.c['tx64']!.length, 3);
  assert.equal(samples.tkvm['tx64'], undefined);
  assert.deepEqual(errors, { 'tkvm tx64': 'no --net' });
});
