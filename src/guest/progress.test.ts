import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatElapsed, StepProgress, type ProgressOutput } from './progress.js';

/** A progress output with a hand-driven clock and timer. */
function fakeOutput(isTty: boolean) {
  const written: string[] = [];
  let now = 0;
  let tick: (() => void) | null = null;
  let intervalMs = 0;
  const output: ProgressOutput = {
    write: (text) => void written.push(text),
    isTty,
    now: () => now,
    setInterval: (callback, ms) => {
      tick = callback;
      intervalMs = ms;
      return 'timer';
    },
    clearInterval: () => {
      tick = null;
    },
  };
  const advance = (ms: number): void => {
    now += ms;
    tick?.();
  };
  return { output, written, advance, interval: () => intervalMs, timerActive: () => tick !== null };
}

test('formatElapsed writes seconds, minutes and hours', () => {
  assert.equal(formatElapsed(0), '0s');
  assert.equal(formatElapsed(12_999), '12s');
  assert.equal(formatElapsed(192_000), '3m12s');
  assert.equal(formatElapsed(60_000), '1m00s');
  assert.equal(formatElapsed(3_723_000), '1h02m03s');
  assert.equal(formatElapsed(-5), '0s');
});

test('not a terminal: a start line, periodic "still running" lines, and an end line', async () => {
  const fake = fakeOutput(false);
  const progress = new StepProgress(fake.output, 5, 30_000);
  progress.skip('installing packages', 'nothing to do');
  const result = await progress.run('building kernel (make -j2)', async () => {
    assert.equal(fake.interval(), 30_000);
    fake.advance(30_000);
    fake.advance(30_000);
    fake.advance(132_000);
    return 42;
  });
  assert.equal(result, 42);
  assert.deepEqual(fake.written, [
    '[1/5] installing packages: nothing to do\n',
    '[2/5] building kernel (make -j2) …\n',
    '[2/5] building kernel (make -j2) … still running (30s)\n',
    '[2/5] building kernel (make -j2) … still running (1m00s)\n',
    '[2/5] building kernel (make -j2) … still running (3m12s)\n',
    '[2/5] building kernel (make -j2) … done (3m12s)\n',
  ]);
  assert.equal(fake.timerActive(), false);
});

test('on a terminal: one live line redrawn with the elapsed time', async () => {
  const fake = fakeOutput(true);
  const progress = new StepProgress(fake.output, 2);
  await progress.run('unpacking', async () => {
    assert.equal(fake.interval(), 1000);
    fake.advance(1000);
    fake.advance(1000);
  });
  assert.deepEqual(fake.written, [
    '[1/2] unpacking … 0s',
    '\r\x1b[2K[1/2] unpacking … 1s',
    '\r\x1b[2K[1/2] unpacking … 2s',
    '\r\x1b[2K[1/2] unpacking … done (2s)\n',
  ]);
});

test('a failing step says so, stops its timer and rethrows', async () => {
  const fake = fakeOutput(false);
  const progress = new StepProgress(fake.output, 1);
  await assert.rejects(
    progress.run('configuring', async () => {
      fake.advance(5000);
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(fake.written.at(-1), '[1/1] configuring … failed (5s)\n');
  assert.equal(fake.timerActive(), false);
});
