/**
 * COM1 served from several threads at once (issue 9): two worker threads
 * drive THR/LSR over one shared UART state while the main thread's
 * Serial16550 drains the ring to a slow output with flow control. Every
 * byte arrives exactly once, in each thread's order, the output holds a
 * bounded amount, and the IRQ line ends equal to the state's level.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { Serial16550 } from './serial.js';
import type { SerialHammerInit } from './serial-test-worker.js';

const WORKER = new URL('./serial-test-worker.js', import.meta.url);
const IER = 1;
const PER_THREAD = 20_000;
/** The fake console's limit: above it the UART holds the transmitter full. */
const OUTPUT_LIMIT = 2048;

test('two threads hammer THR/LSR: every byte once, per-thread order kept, memory bounded, IRQ consistent', async () => {
  const line = new SharedArrayBuffer(8);
  const lineCells = new Int32Array(line);
  const received: number[] = [];
  let pending = 0;
  let maxPending = 0;
  let blockedTimes = 0;
  let release: (() => void) | null = null;
  const uart: Serial16550 = new Serial16550({
    onOutput: (b) => {
      received.push(b);
      pending++;
      maxPending = Math.max(maxPending, pending);
    },
    setIrqLevel: (level) => Atomics.store(lineCells, 0, level ? 1 : 0),
    outputBlocked: () => pending >= OUTPUT_LIMIT,
    onOutputBlocked: () => {
      blockedTimes++;
      release = () => uart.transmitterReady();
    },
  });
  // The THRE interrupt on, so that every THR write moves the line from some thread.
  uart.write(IER, Uint8Array.of(0x02));
  uart.watchSharedAccess();
  // A slow reader: only once the UART is held, takes up to 512 bytes a tick, then says the output drained.
  const reader = setInterval(() => {
    if (!release) return;
    pending = Math.max(0, pending - 512);
    if (pending < OUTPUT_LIMIT / 2 && release) {
      const r = release;
      release = null;
      r();
    }
  }, 1);

  const results = await Promise.all([0, 1].map((tag) => new Promise<{ fullPolls: number }>((resolve, reject) => {
    const init: SerialHammerInit = { state: uart.shared, line, tag, count: PER_THREAD };
    const w = new Worker(WORKER, { workerData: init });
    w.once('message', resolve);
    w.once('error', reject);
    w.once('online', () => {
      if (tag === 1) {
        Atomics.store(lineCells, 1, 1);
        Atomics.notify(lineCells, 1);
      }
    });
  })));
  // Let the watcher drain what is left.
  const deadline = Date.now() + 20_000;
  while (received.length < 2 * PER_THREAD && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  clearInterval(reader);
  uart.stopWatching();

  assert.equal(received.length, 2 * PER_THREAD, 'every byte arrived, none twice');
  for (const tag of [0, 1]) {
    const mine = received.filter((b) => (b & 1) === tag);
    assert.equal(mine.length, PER_THREAD, `thread ${tag}'s bytes`);
    for (let i = 0; i < mine.length; i++) {
      if (mine[i] !== (((i & 0x7f) << 1) | tag)) assert.fail(`thread ${tag}: byte ${i} is 0x${mine[i]!.toString(16)}, out of order`);
    }
  }
  assert.equal(uart.transmitOverruns, 0, 'drivers that honour THRE lose nothing');
  assert.ok(blockedTimes > 0, 'the slow output held the transmitter');
  assert.ok(results.some((r) => r.fullPolls > 0), 'the threads saw THR full and waited');
  assert.ok(maxPending <= OUTPUT_LIMIT, `the output held ${maxPending} bytes`);
  assert.equal(Atomics.load(lineCells, 0) === 1, uart.peekRegisters().irqLevel, 'the line ends at the state level');
  assert.equal(uart.stats().bytesOut, 2 * PER_THREAD);
  if (process.env.SERIAL_HAMMER_VERBOSE) console.error({ blockedTimes, maxPending, results });
});
