import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import * as sys from '../../../sys/libc.js';
import { createEventFd, drainEventFd, writeEventFd } from '../../pci/eventfd.js';
import { DeviceEventLoop } from './event-loop.js';
import { acquireSleeperSlot, releaseSleeperSlot, SleeperClient } from './sleeper.js';

async function loopWith(onRound: () => boolean = () => false) {
  const slot = await acquireSleeperSlot();
  const errors: string[] = [];
  let wakes = 0;
  const loop = new DeviceEventLoop({
    round: onRound,
    sleepTimeoutMs: () => -1,
    onError: (error, where) => errors.push(`${where}: ${error.message}`),
  }, () => { wakes++; }, new SleeperClient(slot));
  const running = loop.run();
  /** Ends run() and closes the loop. */
  const shutdown = async (): Promise<void> => {
    loop.stop();
    await running;
    loop.close();
    releaseSleeperSlot(slot);
  };
  return { loop, errors, shutdown, wakes: () => wakes };
}

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

test('fd sources, timers and wake-ups are served by one loop, which returns to the event loop while idle', async () => {
  const { loop, errors, shutdown, wakes } = await loopWith();
  const fd = createEventFd();
  try {
    let ready = 0;
    loop.addFd(fd, sys.EPOLLIN, () => { drainEventFd(fd); ready++; });
    writeEventFd(fd);
    await until('the fd handler', () => ready === 1);

    let fired = 0;
    const timer = loop.addTimer(() => fired++);
    loop.armTimer(timer, 5, 5);
    await until('three timer expiries', () => fired >= 3);
    loop.armTimer(timer, 0);
    const after = fired;
    await sleep(30);
    assert.ok(fired <= after + 1, 'a disarmed timer stays quiet');

    // Promise code runs while the loop sleeps: this await would never finish if the thread blocked.
    const self = await readFile(fileURLToPath(import.meta.url), 'utf8');
    assert.match(self, /DeviceEventLoop/);
    const before = wakes();
    loop.wake();
    await until('onWake', () => wakes() === before + 1);
    // Another thread's wake-up: the eventfd.
    writeEventFd(loop.wakeEventFd);
    await until('onWake from the eventfd', () => wakes() === before + 2);
    assert.deepEqual(errors, []);
  } finally {
    await shutdown();
    sys.close(fd);
  }
});

test('a throwing handler is reported and the loop goes on', async () => {
  let rounds = 0;
  const { loop, errors, shutdown } = await loopWith(() => {
    rounds++;
    return false;
  });
  const fd = createEventFd();
  try {
    let calls = 0;
    loop.addFd(fd, sys.EPOLLIN, () => {
      drainEventFd(fd);
      calls++;
      throw new Error('boom');
    }, 'test fd');
    writeEventFd(fd);
    await until('the first call', () => calls === 1 && errors.length === 1);
    writeEventFd(fd);
    await until('the second call', () => calls === 2);
    assert.deepEqual(errors, ['test fd: boom', 'test fd: boom']);
    assert.ok(rounds >= 2);
  } finally {
    await shutdown();
    sys.close(fd);
  }
});

test('tracked operations: whenIdle waits for them, and their settling wakes a sleeping loop', async () => {
  const { loop, shutdown, wakes } = await loopWith();
  try {
    let resolveOp!: () => void;
    const op = new Promise<void>((resolve) => { resolveOp = resolve; });
    void loop.track(op);
    assert.equal(loop.inFlight, 1);
    let idle = false;
    loop.whenIdle(() => { idle = true; });
    await sleep(20);
    assert.equal(idle, false, 'not idle while the operation is in flight');
    const before = wakes();
    resolveOp();
    await until('idle', () => idle);
    await until('the wake-up after settling', () => wakes() > before);
    assert.equal(loop.inFlight, 0);
    let immediate = false;
    loop.whenIdle(() => { immediate = true; });
    assert.ok(immediate, 'with nothing in flight, at once');
  } finally {
    await shutdown();
  }
});

test('a busy loop still lets timers and promises of its thread run', async () => {
  // round() always has work: the loop must still yield to Node's event loop.
  const { shutdown } = await loopWith(() => true);
  try {
    const started = Date.now();
    await sleep(10);
    assert.ok(Date.now() - started < 1000, 'a timer of this thread ran while the loop was busy');
  } finally {
    await shutdown();
  }
});
