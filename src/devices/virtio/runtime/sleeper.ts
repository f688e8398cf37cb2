/**
 * Where idle device threads sleep: one process-wide thread blocked in
 * epoll_wait over the epoll sets of every sleeping device thread, which
 * wakes each through a shared word (Atomics.notify, received with
 * Atomics.waitAsync, so the device thread's own event loop stays free).
 *
 * Why not epoll_wait on libuv's thread pool: the pool is process-wide and
 * has 4 threads by default. Each idle device held one of them for as long
 * as it slept, so four idle devices left none for fs.promises, DNS or zlib
 * anywhere in the process, and a fifth device thread never even started
 * (it loads its modules through the pool). Here sleeping costs no pool
 * thread, whatever the number of devices.
 *
 * A device thread's set joins the sleeper's set with EPOLLONESHOT when it
 * goes to sleep (epoll sets nest, epoll(7)); the sleeper thread marks the
 * word and notifies, and the set stays disarmed until the device sleeps
 * again. Nothing is lost in between: a device's set is level-triggered, so
 * whatever is ready when it is re-armed fires at once.
 *
 * The sleeper thread runs while some device is registered (acquire/release,
 * counted) and is stopped through an eventfd when the last one leaves, so
 * that it never keeps a process from exiting.
 */
import { Worker } from 'node:worker_threads';
import * as sys from '../../../sys/libc.js';
import { createEventFd, writeEventFd } from '../../pci/eventfd.js';

/** Most device threads that can be registered at once. */
export const SLEEPER_SLOTS = 1024;
/** The slot id (epoll data) of the sleeper's stop eventfd. */
export const SLEEPER_STOP = 0xffff_ffff;

/** What a device thread needs to sleep through the sleeper: plain data, sent to its worker. */
export interface SleeperSlot {
  /** The sleeper's epoll set. */
  epfd: number;
  /** Int32 words, one per slot: 1 once the slot's set was ready. */
  words: SharedArrayBuffer;
  index: number;
}

/** The message that starts the sleeper thread. */
export interface SleeperThreadInit {
  epfd: number;
  stopEventFd: number;
  words: SharedArrayBuffer;
}

const THREAD_URL = new URL('./sleeper-thread.js', import.meta.url);

class SleeperThread {
  readonly epfd = sys.epollCreate();
  readonly stopEventFd = createEventFd();
  readonly words = new SharedArrayBuffer(4 * SLEEPER_SLOTS);
  readonly free: number[] = [];
  readonly #worker: Worker;
  readonly #exited: Promise<void>;
  /** Settles once the thread has loaded its modules (or ended). */
  readonly loaded: Promise<void>;
  #next = 0;
  users = 0;

  constructor() {
    sys.epollCtl(this.epfd, sys.EPOLL_CTL_ADD, this.stopEventFd, sys.EPOLLIN, SLEEPER_STOP);
    const init: SleeperThreadInit = { epfd: this.epfd, stopEventFd: this.stopEventFd, words: this.words };
    this.#worker = new Worker(THREAD_URL, { name: 'tkvm device sleeper', workerData: init, stdout: false, stderr: false });
    this.#worker.unref();
    this.#exited = new Promise((resolve) => this.#worker.once('exit', () => resolve()));
    this.loaded = Promise.race([new Promise<void>((resolve) => this.#worker.once('message', () => resolve())), this.#exited]);
    this.#worker.on('error', () => { /* it only loops over epoll_wait; exit closes it below */ });
  }

  take(): number {
    const index = this.free.pop() ?? this.#next++;
    if (index >= SLEEPER_SLOTS) throw new Error(`more than ${SLEEPER_SLOTS} device threads`);
    return index;
  }

  /** Stops the thread (it leaves its epoll_wait through the stop eventfd), then closes the fds. */
  stop(): void {
    writeEventFd(this.stopEventFd);
    void this.#exited.then(() => {
      sys.close(this.epfd);
      sys.close(this.stopEventFd);
    });
  }
}

let current: SleeperThread | null = null;

/**
 * Registers one device thread with the sleeper, starting it if none runs,
 * and settles once the sleeper has loaded (so that no two threads load
 * koffi at once); `releaseSleeperSlot` when the device thread is gone.
 */
export async function acquireSleeperSlot(): Promise<SleeperSlot> {
  const thread = (current ??= new SleeperThread());
  const index = thread.take();
  thread.users++;
  Atomics.store(new Int32Array(thread.words), index, 0);
  await thread.loaded;
  return { epfd: thread.epfd, words: thread.words, index };
}

/** The device thread of `slot` has ended (its epoll set is closed, so it left the sleeper's set). */
export function releaseSleeperSlot(slot: SleeperSlot): void {
  const thread = current;
  if (!thread || thread.epfd !== slot.epfd) return; // a slot of a sleeper already stopped
  thread.free.push(slot.index);
  if (--thread.users > 0) return;
  current = null;
  thread.stop();
}

/**
 * The device-thread side: puts this thread's epoll set to sleep in the
 * sleeper and waits, without blocking this thread, until it is ready or
 * `timeoutMs` passes (-1: no timeout).
 */
export class SleeperClient {
  readonly #slot: SleeperSlot;
  readonly #words: Int32Array;
  #joined = false;

  constructor(slot: SleeperSlot) {
    this.#slot = slot;
    this.#words = new Int32Array(slot.words);
  }

  async sleep(deviceEpfd: number, timeoutMs: number): Promise<void> {
    const { epfd, index } = this.#slot;
    Atomics.store(this.#words, index, 0);
    const events = sys.EPOLLIN | EPOLLONESHOT;
    sys.epollCtl(epfd, this.#joined ? sys.EPOLL_CTL_MOD : sys.EPOLL_CTL_ADD, deviceEpfd, events, index);
    this.#joined = true;
    const wait = Atomics.waitAsync(this.#words, index, 0, timeoutMs < 0 ? Infinity : timeoutMs);
    if (!wait.async) return;
    // A pending waitAsync does not keep Node's event loop alive: without a handle, the thread would end here.
    const keepAlive = setInterval(noop, 1 << 30);
    try {
      await wait.value;
    } finally {
      clearInterval(keepAlive);
    }
  }

  /** Takes this thread's set out of the sleeper's (before it is closed). */
  leave(deviceEpfd: number): void {
    if (!this.#joined) return;
    this.#joined = false;
    try {
      sys.epollCtl(this.#slot.epfd, sys.EPOLL_CTL_DEL, deviceEpfd, 0, 0);
    } catch { /* the sleeper already stopped and closed its set */ }
  }
}

const noop = (): void => {};

/** epoll(7): disarm after one event until re-armed with EPOLL_CTL_MOD. */
const EPOLLONESHOT = 1 << 30;
