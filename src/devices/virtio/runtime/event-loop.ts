/**
 * The event loop of one device thread: one epoll set for every source the
 * thread serves (queue notify eventfds, the control eventfd, a wake-up
 * eventfd, device fds and timerfds), and rounds that dispatch what is ready
 * and then let the owner serve its queues.
 *
 * The thread returns to Node's own event loop between rounds, so promise
 * code works inside a device (fs.promises, child processes, net):
 * - while there is work, it polls the epoll set without sleeping, and
 *   yields to Node's loop (setImmediate) at least every YIELD_EVERY_MS;
 * - when idle with no tracked operation in flight it first waits in
 *   epoll_wait on this thread for up to SYNC_IDLE_MS, the cheapest way to
 *   catch the next kick of a busy guest;
 * - then it sleeps off-thread in the process-wide sleeper (sleeper.ts:
 *   Atomics.waitAsync on a word that the sleeper thread's epoll_wait
 *   sets), leaving this thread's event loop free and holding no thread of
 *   libuv's pool; a tracked operation that settles, or wake(), ends the
 *   sleep through the wake-up eventfd.
 *
 * A handler that throws never ends the loop: the error goes to `onError`.
 */
import * as sys from '../../../sys/libc.js';
import { createEventFd, drainEventFd, writeEventFd } from '../../pci/eventfd.js';
import type { SleeperClient } from './sleeper.js';

/** The longest a busy loop runs before letting Node's event loop run (ms). */
export const YIELD_EVERY_MS = 2;
/** How long an idle loop waits for a kick on its own thread before sleeping off-thread (ms). */
export const SYNC_IDLE_MS = 1;
const MAX_EVENTS = 32;

export interface EventLoopHooks {
  /** Serves whatever the dispatched events asked for; returns true while work is left. */
  round(): boolean;
  /** How long the loop may sleep (ms, -1 forever), e.g. until counters are due. */
  sleepTimeoutMs(): number;
  /** A source handler threw. */
  onError(error: Error, where: string): void;
}

interface FdSource {
  fd: number;
  events: number;
  onReady: (ready: number) => void;
  /** A timerfd the loop created (and closes). */
  timer: boolean;
  where: string;
}

export class DeviceEventLoop {
  readonly epfd: number;
  /** Written by other threads (or by wake() while the loop sleeps off-thread). */
  readonly wakeEventFd: number;
  readonly #hooks: EventLoopHooks;
  readonly #sources = new Map<number, FdSource>();
  readonly #syncEvents = new Uint8Array(MAX_EVENTS * sys.EPOLL_EVENT_SIZE);
  readonly #syncView = new DataView(this.#syncEvents.buffer);
  readonly #idleWaiters: Array<() => void> = [];
  readonly #onWake: () => void;
  readonly #sleeper: SleeperClient;
  #nextId = 1;
  #wakeSource: number;
  #wakeWanted = false;
  #sleepingOffThread = false;
  #stopped = false;
  #inFlight = 0;
  #workLeft = false;

  constructor(hooks: EventLoopHooks, onWake: () => void, sleeper: SleeperClient) {
    this.#hooks = hooks;
    this.#onWake = onWake;
    this.#sleeper = sleeper;
    this.epfd = sys.epollCreate();
    this.wakeEventFd = createEventFd();
    this.#wakeSource = this.addFd(this.wakeEventFd, sys.EPOLLIN, () => {
      drainEventFd(this.wakeEventFd);
      this.#wakeWanted = true;
    }, 'wake-up');
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Watches `fd`; `onReady` runs in a round with the ready bits. */
  addFd(fd: number, events: number, onReady: (ready: number) => void, where = `fd ${fd}`): number {
    const id = this.#nextId++;
    sys.epollCtl(this.epfd, sys.EPOLL_CTL_ADD, fd, events, id);
    this.#sources.set(id, { fd, events, onReady, timer: false, where });
    return id;
  }

  setFdEvents(id: number, events: number): void {
    const source = this.#sources.get(id);
    if (!source || source.events === events) return;
    sys.epollCtl(this.epfd, sys.EPOLL_CTL_MOD, source.fd, events, id);
    source.events = events;
  }

  removeFd(id: number): void {
    const source = this.#sources.get(id);
    if (!source || id === this.#wakeSource) return;
    this.#sources.delete(id);
    sys.epollCtl(this.epfd, sys.EPOLL_CTL_DEL, source.fd, 0, 0);
    if (source.timer) sys.close(source.fd);
  }

  addTimer(onFire: () => void, where = 'timer'): number {
    const fd = sys.timerfdCreate();
    const id = this.addFd(fd, sys.EPOLLIN, () => {
      if (drainEventFd(fd) > 0) onFire();
    }, where);
    this.#sources.get(id)!.timer = true;
    return id;
  }

  armTimer(id: number, delayMs: number, intervalMs = 0): void {
    const source = this.#sources.get(id);
    if (!source?.timer) throw new RangeError(`no timer ${id}`);
    sys.timerfdSet(source.fd, delayMs, intervalMs);
  }

  /** Asks for the owner's onWake in the next round; safe from any code on this thread. */
  wake(): void {
    this.#wakeWanted = true;
    if (this.#sleepingOffThread) writeEventFd(this.wakeEventFd);
  }

  /** Work that may touch guest memory until it settles; whenIdle callbacks wait for it. */
  track<T>(operation: Promise<T>): Promise<T> {
    this.#inFlight++;
    const settle = (): void => {
      this.#inFlight--;
      if (this.#inFlight === 0) this.#runIdleWaiters();
      // The loop may be sleeping off-thread: let it see what the operation did.
      this.wake();
    };
    operation.then(settle, settle);
    return operation;
  }

  /** Runs `callback` once no tracked operation is in flight (at once if none is). */
  whenIdle(callback: () => void): void {
    if (this.#inFlight === 0) callback();
    else this.#idleWaiters.push(callback);
  }

  /** Ends run() after the current round; safe from any code on this thread. */
  stop(): void {
    this.#stopped = true;
    if (this.#sleepingOffThread) writeEventFd(this.wakeEventFd);
  }

  async run(): Promise<void> {
    let sliceStart = performance.now();
    while (!this.#stopped) {
      const busy = this.#workLeft || this.#wakeWanted;
      let n: number;
      if (busy) n = sys.epollWait(this.epfd, this.#syncEvents, 0);
      else {
        const sleep = this.#hooks.sleepTimeoutMs();
        n = this.#inFlight === 0 ? sys.epollWait(this.epfd, this.#syncEvents, sleep < 0 ? SYNC_IDLE_MS : Math.min(sleep, SYNC_IDLE_MS)) : 0;
        if (n === 0 && !this.#wakeWanted && !this.#stopped) {
          this.#sleepingOffThread = true;
          try {
            await this.#sleeper.sleep(this.epfd, this.#hooks.sleepTimeoutMs());
          } finally {
            this.#sleepingOffThread = false;
          }
          n = sys.epollWait(this.epfd, this.#syncEvents, 0);
          sliceStart = performance.now();
        }
      }
      this.#dispatch(this.#syncView, n);
      if (this.#wakeWanted) {
        this.#wakeWanted = false;
        this.#call(this.#onWake, 'wake-up');
      }
      this.#workLeft = this.#round();
      if (performance.now() - sliceStart >= YIELD_EVERY_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
    }
  }

  /** Closes the epoll set, the wake-up eventfd and the timers (not the fds devices own). */
  close(): void {
    for (const source of this.#sources.values()) if (source.timer) sys.close(source.fd);
    this.#sources.clear();
    this.#sleeper.leave(this.epfd);
    sys.close(this.epfd);
    sys.close(this.wakeEventFd);
  }

  #round(): boolean {
    try {
      return this.#hooks.round();
    } catch (err) {
      this.#hooks.onError(err instanceof Error ? err : new Error(String(err)), 'queue service');
      return false;
    }
  }

  #dispatch(view: DataView, n: number): void {
    for (let i = 0; i < n; i++) {
      const at = i * sys.EPOLL_EVENT_SIZE;
      const ready = view.getUint32(at, true);
      // epoll_data.u64 holds the source id: its low half is enough.
      const source = this.#sources.get(view.getUint32(at + 4, true));
      if (!source) continue; // removed earlier in this round
      try {
        source.onReady(ready);
      } catch (err) {
        this.#hooks.onError(err instanceof Error ? err : new Error(String(err)), source.where);
      }
    }
  }

  #call(fn: () => void, where: string): void {
    try {
      fn();
    } catch (err) {
      this.#hooks.onError(err instanceof Error ? err : new Error(String(err)), where);
    }
  }

  #runIdleWaiters(): void {
    const waiters = this.#idleWaiters.splice(0);
    for (const waiter of waiters) this.#call(waiter, 'idle callback');
  }
}
