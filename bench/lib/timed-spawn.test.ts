import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeEnd, lastLine, runTimed } from './timed-spawn.js';

const node = process.execPath;

test('runTimed reports status, output and a plausible wall time', async () => {
  const run = await runTimed(node, ['-e', 'console.log("out"); console.error("err"); setTimeout(() => process.exit(33), 50)'], 10_000);
  assert.equal(run.status, 33);
  assert.equal(run.signal, null);
  assert.equal(run.timedOut, false);
  assert.equal(run.stdout, 'out\n');
  assert.equal(run.stderr, 'err\n');
  assert.ok(run.wallNs >= 50e6, `wall ${run.wallNs} ns`);
  assert.equal(describeEnd(run), 'exit status 33');
});

test('runTimed kills a run that outlives its timeout', async () => {
  const run = await runTimed(node, ['-e', 'setInterval(() => {}, 1000)'], 200);
  assert.equal(run.timedOut, true);
  assert.equal(run.signal, 'SIGKILL');
  assert.equal(describeEnd(run), 'killed after timing out');
});

test('runTimed rejects when the program does not exist', async () => {
  await assert.rejects(runTimed('/nonexistent/program', [], 1000), /ENOENT/);
});

test('lastLine skips blank lines', () => {
  assert.equal(lastLine('first\n  second  \n\n'), 'second');
  assert.equal(lastLine(''), '');
});
