import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { collectGuestReport, parseGuestLine, type TimedLine, TimedLineSplitter } from './guest-output.js';

test('parses the guest protocol lines', () => {
  assert.deepEqual(parseGuestLine('blk-bench begin 2'), { kind: 'begin', pass: 2 });
  assert.deepEqual(parseGuestLine('blk-bench end 2\r'), { kind: 'end', pass: 2 });
  assert.deepEqual(parseGuestLine('blk-bench pass 2 requests=16384 bytes=1073741824 tsc=512345678 kicks=40'), {
    kind: 'pass', pass: 2, requests: 16384, bytes: 1073741824, tscTicks: 512345678, kicks: 40,
  });
  assert.deepEqual(parseGuestLine('blk-bench ok'), { kind: 'ok' });
  assert.deepEqual(parseGuestLine('FAIL: blk-bench: request at offset 0x0: status 1'), { kind: 'fail', reason: 'blk-bench: request at offset 0x0: status 1' });
});

test('other lines, malformed numbers and unsafe integers are not protocol lines', () => {
  for (const line of [
    'virtio-pci: 1af4:1042 at slot 1, BAR0 0xc0000000',
    'blk-bench: cpl 3, mode seqread',
    'blk-bench begin',
    'blk-bench begin -1',
    'blk-bench pass 1 requests=1 bytes=2 tsc=3',
    'blk-bench pass 1 requests=1 bytes=2 tsc=99999999999999999999 kicks=0',
    'xblk-bench ok',
  ]) {
    assert.equal(parseGuestLine(line), null, line);
  }
});

test('lines are stamped with the arrival of the chunk that ends them', () => {
  const splitter = new TimedLineSplitter();
  splitter.push('blk-bench be', 10n);
  splitter.push('gin 1\nblk-bench end 1\nblk-', 20n);
  splitter.push('bench ok', 30n);
  splitter.finish(40n);
  assert.deepEqual(splitter.lines, [
    { line: 'blk-bench begin 1', atNs: 20n },
    { line: 'blk-bench end 1', atNs: 20n },
    { line: 'blk-bench ok', atNs: 40n },
  ]);
});

test('splitting is independent of how the stream is chunked', () => {
  fc.assert(
    fc.property(fc.array(fc.stringMatching(/^[a-z ]{0,12}$/), { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1 }), (lines, cuts) => {
      const text = lines.map((l) => `${l}\n`).join('');
      const splitter = new TimedLineSplitter();
      let at = 0;
      for (let i = 0; at < text.length; i++) {
        const size = cuts[i % cuts.length]!;
        splitter.push(text.slice(at, at + size), BigInt(i));
        at += size;
      }
      splitter.finish(999n);
      assert.deepEqual(splitter.lines.map((l) => l.line), lines);
    }),
  );
});

function timed(entries: Array<[string, number]>): TimedLine[] {
  return entries.map(([line, ms]) => ({ line, atNs: BigInt(ms) * 1_000_000n }));
}

test('a pass is timed from its begin line to its end line', () => {
  const report = collectGuestReport(timed([
    ['blk-bench: cpl 3, mode seqread', 0],
    ['blk-bench begin 1', 100],
    ['blk-bench end 1', 600],
    ['blk-bench pass 1 requests=10 bytes=655360 tsc=1000 kicks=3', 601],
    ['blk-bench begin 2', 610],
    ['blk-bench end 2', 1010],
    ['blk-bench pass 2 requests=10 bytes=655360 tsc=900 kicks=2', 1011],
    ['blk-bench ok', 1012],
  ]));
  assert.equal(report.ok, true);
  assert.equal(report.failure, null);
  assert.deepEqual(report.passes, [
    { pass: 1, requests: 10, bytes: 655360, wallNs: 500e6, tscTicks: 1000, kicks: 3 },
    { pass: 2, requests: 10, bytes: 655360, wallNs: 400e6, tscTicks: 900, kicks: 2 },
  ]);
});

test('incomplete passes are left out and a failure is kept', () => {
  const report = collectGuestReport(timed([
    ['blk-bench pass 1 requests=10 bytes=655360 tsc=1000 kicks=3', 5],
    ['blk-bench end 2', 10],
    ['blk-bench begin 2', 20],
    ['blk-bench pass 2 requests=10 bytes=655360 tsc=900 kicks=2', 30],
    ['blk-bench begin 3', 40],
    ['FAIL: blk-bench: no completion', 50],
    ['FAIL: exception 13', 60],
  ]));
  assert.deepEqual(report.passes, []);
  assert.equal(report.ok, false);
  assert.equal(report.failure, 'blk-bench: no completion');
});
