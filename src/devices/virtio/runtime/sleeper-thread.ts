/**
 * The body of the process-wide sleeper thread (sleeper.ts): blocks in
 * epoll_wait over the epoll sets of sleeping device threads and wakes the
 * one whose set is ready; leaves when its stop eventfd is written.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as sys from '../../../sys/libc.js';
import { SLEEPER_SLOTS, SLEEPER_STOP, type SleeperThreadInit } from './sleeper.js';

const MAX_EVENTS = 64;

function run(init: SleeperThreadInit): void {
  const words = new Int32Array(init.words);
  const buf = new Uint8Array(MAX_EVENTS * sys.EPOLL_EVENT_SIZE);
  const view = new DataView(buf.buffer);
  for (;;) {
    const n = sys.epollWait(init.epfd, buf, -1);
    for (let i = 0; i < n; i++) {
      const slot = view.getUint32(i * sys.EPOLL_EVENT_SIZE + 4, true);
      if (slot === SLEEPER_STOP) return;
      if (slot >= SLEEPER_SLOTS) continue;
      Atomics.store(words, slot, 1);
      Atomics.notify(words, slot);
    }
  }
}

if (workerData) {
  // Loaded (koffi included): the starter may now let other threads load it (vmm/vcpu-workers.ts says why).
  parentPort?.postMessage('loaded');
  run(workerData as SleeperThreadInit);
}
