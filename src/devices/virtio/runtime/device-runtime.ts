/**
 * What a virtio device may ask of the thread that runs it, beyond queue
 * kicks (docs/devices.md). A device that needs no more than kicks ignores
 * it; one that talks to the host (a TAP, a socket, a file server) gets:
 *
 * - **event sources**: host fds (readiness callbacks), timers, and wake-ups
 *   from other code of the same thread (promise callbacks) or of other
 *   threads (an eventfd), all served by the thread's one epoll;
 * - **asynchronous, out-of-order completion**: a chain popped now may be
 *   completed later, in any order (virtio 1.2 §2.7.8: the used ring names
 *   each chain by its head); notifications are batched and suppressed as
 *   EVENT_IDX / NO_INTERRUPT say;
 * - **tracked operations**: promises that touch guest memory (a read into a
 *   guest buffer), which a device reset waits for, so that after reset the
 *   device no longer touches guest RAM (§2.1.2, §4.1.4.3.2).
 *
 * Everything runs on the device's own thread: handlers are never called
 * concurrently, and no locking is needed between them.
 */
import type { SplitQueue } from '../queue/split.js';

/** Readiness bits (epoll(7)): EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP. */
export const FdEvent = { IN: 0x001, OUT: 0x004, ERR: 0x008, HUP: 0x010 } as const;

export interface DeviceRuntime {
  /** Watches `fd` for `events` (FdEvent bits); `onReady` gets the bits that are ready. Returns a source id. */
  addFd(fd: number, events: number, onReady: (ready: number) => void): number;
  /** Changes what a watched fd waits for; 0 keeps it registered but silent (e.g. no RX buffers). */
  setFdEvents(source: number, events: number): void;
  /** Stops watching an fd (the device still owns and closes it). */
  removeFd(source: number): void;
  /** A timer (a timerfd in the epoll set), disarmed until `armTimer`. */
  addTimer(onFire: () => void): number;
  /** Fires the timer once after `delayMs`, then every `intervalMs` if given; 0 disarms it. */
  armTimer(timer: number, delayMs: number, intervalMs?: number): void;
  removeTimer(timer: number): void;
  /**
   * Asks for queue `index` to be served in the next round, as if kicked
   * (e.g. RX data arrived for chains the guest posted earlier).
   */
  kickQueue(index: number): void;
  /** Runs `onWake` of the device in the next round; callable from this thread at any time. */
  wake(): void;
  /** An eventfd that other threads write to wake this device (its `onWake` runs). */
  readonly wakeEventFd: number;
  /**
   * Completes chain `head` of `queue` with `len` bytes written, outside the
   * queue's service call. Ignored for a queue that is no longer active
   * (after a reset). The interrupt goes out at the end of the round, or at
   * once when called from a promise callback.
   */
  complete(queue: SplitQueue, head: number, len: number): void;
  /** Registers work that may touch guest memory until it settles: a reset waits for it. */
  track<T>(operation: Promise<T>): Promise<T>;
  /** Operations tracked and not yet settled. */
  readonly inFlight: number;
}

/** The optional hooks a device implements to use its runtime. */
export interface RuntimeAware {
  /** Called once, before the first activation, on the device's thread. */
  attachRuntime(runtime: DeviceRuntime): void;
  /** A wake-up (DeviceRuntime.wake or the wake eventfd). */
  onWake?(): void;
}

export function isRuntimeAware(device: object): device is RuntimeAware {
  return typeof (device as Partial<RuntimeAware>).attachRuntime === 'function';
}
