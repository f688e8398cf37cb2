import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TkvmError } from '../util/errors.js';
import { BuildLog } from './build-log.js';

test('commands append their output to the log; a failure names the step, the status and the log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tkvm-log-'));
  try {
    const log = new BuildLog(join(dir, 'logs', 'setup.log'));
    log.reset();
    await log.run('greeting', 'sh', ['-c', 'echo out; echo err >&2']);
    await assert.rejects(
      log.run('compiling', 'sh', ['-c', 'for i in 1 2 3 4 5; do echo line $i; done; exit 3']),
      (error: unknown) =>
        error instanceof TkvmError &&
        error.code === 'ERR_GUEST_BUILD' &&
        error.message === `compiling failed: sh exited with status 3; full log: ${log.path}`,
    );
    await assert.rejects(log.run('starting', '/nonexistent/tool', []), /starting failed: \/nonexistent\/tool could not be started/);
    const text = readFileSync(log.path, 'utf8');
    assert.match(text, /\$ sh -c echo out; echo err >&2\nout\nerr\n/);
    assert.equal(log.tail(2), '\n$ /nonexistent/tool');
    assert.match(log.tail(30), /line 1\nline 2\nline 3\nline 4\nline 5/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the tail of a missing log is empty', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tkvm-log-'));
  try {
    assert.equal(new BuildLog(join(dir, 'never-written.log')).tail(), '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
