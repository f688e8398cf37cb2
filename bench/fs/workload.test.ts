import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../lib/paths.js';
import { guestToHost, hostFsBench, parseWorkloadLine, workloadRates } from './workload.js';

const program = path.join(repoRoot(), 'test/guests-linux/build/fs-bench');

test('fs-bench on the host: prepare, run and check agree, and the result line parses', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fs-bench-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  hostFsBench(program, ['prepare', dir, '3', '250']);
  const times = parseWorkloadLine(hostFsBench(program, ['run', dir, '3', '40']));
  assert.ok(times, 'a result line');
  assert.equal(times.mbytes, 3);
  assert.equal(times.files, 40);
  assert.equal(times.entries, 250, 'the listing counts every prepared entry, without . and ..');
  hostFsBench(program, ['check', dir, '3']);
  assert.throws(() => hostFsBench(program, ['check', dir, '3']), /write\.dat/, 'check removed the file it verified');
});

test('fs-bench fails on a read that is not the pattern, and on a short written file', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fs-bench-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  hostFsBench(program, ['prepare', dir, '2', '5']);
  const fd = openSync(path.join(dir, 'read.dat'), 'r+');
  writeSync(fd, Buffer.from([0xff]), 0, 1, (1 << 20) + 12345);
  closeSync(fd);
  assert.throws(() => hostFsBench(program, ['run', dir, '2', '1']), /differs at MiB 1/);
  const again = mkdtempSync(path.join(dir, 'again-'));
  hostFsBench(program, ['prepare', again, '1', '1']);
  hostFsBench(program, ['run', again, '1', '1']);
  truncateSync(path.join(again, 'write.dat'), 4096);
  assert.throws(() => hostFsBench(program, ['check', again, '1']), /4096 bytes, not 1048576/);
  assert.throws(() => hostFsBench(program, ['run', again, '0', '1']), /MBYTES must be 1-4096/);
});

test('result lines: only a whole line with every field parses', () => {
  const good = 'fs-bench {"mbytes":64,"readSeconds":2,"writeSeconds":4,"files":100,"smallFilesSeconds":0.5,"entries":10000,"readdirSeconds":0.25}';
  assert.deepEqual(parseWorkloadLine(`boot noise\n${good}\n`)?.files, 100);
  assert.equal(parseWorkloadLine(good.slice(0, -5)), null);
  assert.equal(parseWorkloadLine(good.replace('"files":100', '"files":-1')), null);
  assert.equal(parseWorkloadLine(good.replace('"entries":10000,', '')), null);
  assert.equal(parseWorkloadLine('nothing here'), null);
  const rates = workloadRates(parseWorkloadLine(good)!);
  assert.deepEqual(rates, { readMiBps: 32, writeMiBps: 16, smallFilesPerSecond: 200, readdirEntriesPerSecond: 40000 });
  assert.deepEqual(guestToHost({ ...rates, readMiBps: 8, smallFilesPerSecond: 0.0016 }, rates), { readMiBps: 0.25, writeMiBps: 1, smallFilesPerSecond: 0.000008, readdirEntriesPerSecond: 1 });
});
