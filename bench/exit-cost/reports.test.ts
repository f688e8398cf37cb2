import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { findJsonReport, guestDoneCount, parseKvmLoopReport, parseTkvmTiming, sumExitCounts } from './reports.js';

const kvmLoopLine = '{"kvmLoop":{"exits":100087,"pioExits":100000,"startToFirstRunNs":1106401,"runLoopNs":998030113,"totalNs":999136514}}';

test('parses the C loop report', () => {
  assert.deepEqual(parseKvmLoopReport(`noise\n${kvmLoopLine}\n`), {
    exits: 100087,
    pioExits: 100000,
    startToFirstRunNs: 1106401,
    runLoopNs: 998030113,
    totalNs: 999136514,
  });
});

test('a C loop report with a missing or non-numeric field is rejected', () => {
  assert.equal(parseKvmLoopReport('{"kvmLoop":{"exits":1,"pioExits":1}}'), null);
  assert.equal(parseKvmLoopReport(kvmLoopLine.replace('100087', '"100087"')), null);
  assert.equal(parseKvmLoopReport(''), null);
});

test('the last well-formed report wins; truncated lines are skipped', () => {
  const output = `{"kvmLoop":{"exits":1}}\n${kvmLoopLine}\n{"kvmLoop":{"exits":`;
  assert.equal(parseKvmLoopReport(output)?.pioExits, 100000);
});

test('tkvm timing: start time and io exits in the per-reason shape', () => {
  const stderr = 'tkvm: something\n{"tkvmTiming":{"startToFirstRunMs":41.5,"exits":{"io":100070,"hlt":1}}}\n';
  assert.deepEqual(parseTkvmTiming(stderr), { startToFirstRunMs: 41.5, ioExits: 100070 });
});

test('tkvm timing: the shape tkvm prints (an array of per-vCPU counts)', () => {
  const stderr =
    '{"tkvmTiming":{"startToFirstRunMs":392.920654296875,"status":33,"exits":[{"io":1079,"mmio":0,"hlt":0,"interrupted":1,"io-port80":1000}]}}';
  assert.deepEqual(parseTkvmTiming(stderr), { startToFirstRunMs: 392.920654296875, ioExits: 1079 });
});

test('tkvm timing: per-vCPU exit counts are summed', () => {
  const stderr = '{"tkvmTiming":{"startToFirstRunMs":12,"exits":[{"id":0,"exits":{"io":5,"mmio":2}},{"id":1,"exits":{"io":1}}]}}';
  assert.deepEqual(parseTkvmTiming(stderr), { startToFirstRunMs: 12, ioExits: 6 });
});

test('tkvm timing: missing fields give null, not a failure', () => {
  assert.deepEqual(parseTkvmTiming('{"tkvmTiming":{}}'), { startToFirstRunMs: null, ioExits: null });
  assert.deepEqual(parseTkvmTiming('{"tkvmTiming":{"startToFirstRunMs":-1,"exits":7}}'), {
    startToFirstRunMs: null,
    ioExits: null,
  });
  assert.equal(parseTkvmTiming('guest output only\n'), null);
});

test('sumExitCounts shapes', () => {
  assert.equal(sumExitCounts(10), 10);
  assert.equal(sumExitCounts(10, 'io'), null);
  assert.equal(sumExitCounts({ total: 9, io: 4 }), 9);
  assert.equal(sumExitCounts({ vcpus: [{ io: 2 }, { exits: { io: 3 } }] }, 'io'), 5);
  assert.equal(sumExitCounts({ io: 'many' }, 'io'), null);
  assert.equal(sumExitCounts(null), null);
  assert.equal(sumExitCounts([]), null);
});

test('report parsers never throw on arbitrary output', () => {
  fc.assert(
    fc.property(fc.string(), fc.jsonValue(), (noise, value) => {
      const output = `${noise}\n{"tkvmTiming":${JSON.stringify(value)}}\n{"kvmLoop":${JSON.stringify(value)}}`;
      parseTkvmTiming(output);
      parseKvmLoopReport(output);
      sumExitCounts(value);
      sumExitCounts(value, 'io');
      findJsonReport(noise, 'kvmLoop');
    }),
  );
});

test('guestDoneCount reads the guest\'s last words', () => {
  assert.equal(guestDoneCount('pio-loop start 1000\npio-loop done 1000\n'), 1000);
  assert.equal(guestDoneCount('pio-loop done 5\npio-loop done 7\n'), 7);
  assert.equal(guestDoneCount('pio-loop start 1000\n'), null);
});
