import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectNetGuestReport, parseInjected, parseTapLoopPasses } from './output.js';

const at = (lines: Array<[string, number]>) => lines.map(([line, ns]) => ({ line, atNs: BigInt(ns) }));

test('guest passes are timed from the begin line to the end line', () => {
  const report = collectNetGuestReport(at([
    ['net-bench: cpl 3, mode tx, size 1500, ...', 0],
    ['net-bench ready', 10],
    ['net-bench begin 1', 100],
    ['net-bench end 1', 600],
    ['net-bench pass 1 mode=tx frames=1000 bytes=1500000 tsc=1234 kicks=7 other=0 seq=0..999', 610],
    ['net-bench begin 2', 700],
    ['net-bench end 2', 1000],
    ['net-bench pass 2 mode=tx frames=1000 bytes=1500000 tsc=999 kicks=3 other=2 seq=1000..1999', 1010],
    ['net-bench ok', 1020],
  ]));
  assert.equal(report.ready, true);
  assert.equal(report.ok, true);
  assert.equal(report.failure, null);
  assert.deepEqual(report.passes, [
    { pass: 1, frames: 1000, bytes: 1500000, ns: 500, tscTicks: 1234, kicks: 7, other: 0 },
    { pass: 2, frames: 1000, bytes: 1500000, ns: 300, tscTicks: 999, kicks: 3, other: 2 },
  ]);
});

test('incomplete passes are dropped and the first FAIL is kept', () => {
  const report = collectNetGuestReport(at([
    ['net-bench end 1', 50],
    ['net-bench begin 1', 100],
    ['net-bench pass 1 mode=rx frames=5 bytes=320 tsc=1 kicks=1 other=0 seq=0..4', 110],
    ['FAIL: net-bench: rx stalled', 120],
    ['FAIL: later', 130],
  ]));
  assert.deepEqual(report.passes, []);
  assert.equal(report.ok, false);
  assert.equal(report.ready, false);
  assert.equal(report.failure, 'net-bench: rx stalled');
});

test('tap-loop pass lines of the asked direction, and the injector count', () => {
  const out = 'tap-loop pass 1 mode=tx frames=10 bytes=640 ns=1000\ntap-loop pass 1 mode=rx frames=9 bytes=576 ns=2000\njunk\ntap-loop pass 2 mode=tx frames=10 bytes=640 ns=0\n';
  assert.deepEqual(parseTapLoopPasses(out, 'tx'), [{ pass: 1, frames: 10, bytes: 640, ns: 1000 }]);
  assert.deepEqual(parseTapLoopPasses(out, 'rx'), [{ pass: 1, frames: 9, bytes: 576, ns: 2000 }]);
  assert.equal(parseInjected('tap-loop inject ready\ntap-loop inject frames=12345\n'), 12345);
  assert.equal(parseInjected('nothing'), null);
});
