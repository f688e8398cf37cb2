/**
 * The POSIX behaviour program on a host temporary directory: the
 * reference its in-guest run on a share is compared with. Every check must
 * pass (ownership checks need root; as another user they report skip).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildPosixCheck, parsePosixReport, POSIX_CHECK, POSIX_CHECKS } from './posix-check.js';

test('posix-check passes every check on a host temporary directory and leaves it empty', () => {
  buildPosixCheck();
  const dir = mkdtempSync(path.join(tmpdir(), 'tkvm-posix-'));
  try {
    const run = spawnSync(POSIX_CHECK, [dir], { encoding: 'utf8', timeout: 60_000 });
    const report = parsePosixReport(run.stdout);
    assert.deepEqual(report.failures, [], run.stdout + run.stderr);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.deepEqual([...report.results.keys()], [...POSIX_CHECKS], 'every check ran, in order');
    const root = process.geteuid?.() === 0;
    for (const [name, result] of report.results) assert.equal(result, root || name !== 'chown-lchown' ? 'ok' : result, name);
    assert.match(run.stdout, /^posix-check: 0 failures$/m);
    assert.deepEqual(readdirSync(dir), [], 'the scratch directory is removed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('posix-check refuses a directory it cannot use, and a missing argument, with status 255', () => {
  buildPosixCheck();
  // /proc/self is no place for files: the program cannot even make its scratch directory there.
  const refused = spawnSync(POSIX_CHECK, ['/proc/self'], { encoding: 'utf8' });
  assert.equal(refused.status, 255);
  assert.match(refused.stderr, /cannot use/);
  const usage = spawnSync(POSIX_CHECK, [], { encoding: 'utf8' });
  assert.equal(usage.status, 255);
});

test('parsePosixReport reads ok, skip and FAIL lines among other output', () => {
  const report = parsePosixReport('boot noise\r\nok a\nskip b: not root\nFAIL c: mode 644\nposix-check: 1 failures\n');
  assert.deepEqual([...report.results], [['a', 'ok'], ['b', 'skip: not root'], ['c', 'FAIL: mode 644']]);
  assert.deepEqual(report.failures, ['c: mode 644']);
});
