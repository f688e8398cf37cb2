/**
 * The one module for cross-thread locks, waits and parks over shared memory
 * (mailbox, vCPU pause, device reset). Everything is Atomics on Int32 cells
 * of a SharedArrayBuffer (ECMAScript §25.4), so it works between the main
 * thread and any worker.
 *
 * With TKVM_LOCKDEP=1 every lock and wait goes past the validator in
 * lockdep.ts; without it the only added cost is one test of a constant.
 * The hot paths here allocate nothing and use no BigInt.
 */
import { TkvmError } from './errors.js';
import { LOCKDEP, acquired, beforeLock, beforeWait, callerSite, lockClass, released } from './lockdep.js';

export { LOCKDEP, lockdepReports, heldLocks, type LockdepReport, type LockdepReportKind } from './lockdep.js';

export type WaitResult = 'ok' | 'not-equal' | 'timed-out';

const UNLOCKED = 0;
const LOCKED = 1;
/** Locked, and some thread may be sleeping on it. */
const CONTENDED = 2;

/**
 * A futex-style mutex in a SharedArrayBuffer (Drepper, "Futexes Are
 * Tricky", mutex 2): one Int32 cell, 0 free, 1 locked, 2 locked with
 * waiters; unlock wakes one waiter only when the cell says there may be one.
 * Not recursive. Every thread constructs its own SharedMutex object over
 * the same bytes, under the same name.
 */
export class SharedMutex {
  /** Bytes it needs at `byteOffset` (which must be a multiple of 4). */
  static readonly BYTES: number = 8;
  readonly name: string;
  readonly #cell: Int32Array;
  #class = -2;

  constructor(buffer: SharedArrayBuffer, byteOffset: number, name: string) {
    if (byteOffset % 4 !== 0 || byteOffset < 0 || byteOffset + SharedMutex.BYTES > buffer.byteLength) {
      throw new TkvmError('ERR_SYNC_LAYOUT', `mutex "${name}" at byte ${byteOffset} does not fit its buffer (${buffer.byteLength} bytes, 4-byte aligned)`);
    }
    this.#cell = new Int32Array(buffer, byteOffset, SharedMutex.BYTES / 4);
    this.name = name;
  }

  lock(): void {
    const c = this.#cell;
    if (LOCKDEP) {
      const cls = this.#cls();
      const site = beforeLock(cls, SharedMutex.prototype.lock); // before blocking: the pattern is reported even if this deadlocks
      if (Atomics.compareExchange(c, 0, UNLOCKED, LOCKED) !== UNLOCKED) this.#lockContended();
      acquired(cls, site);
      return;
    }
    if (Atomics.compareExchange(c, 0, UNLOCKED, LOCKED) !== UNLOCKED) this.#lockContended();
  }

  /** Takes the lock if it is free; never blocks (and so adds no order edge). */
  tryLock(): boolean {
    const ok = Atomics.compareExchange(this.#cell, 0, UNLOCKED, LOCKED) === UNLOCKED;
    if (ok && LOCKDEP) acquired(this.#cls(), callerSite(SharedMutex.prototype.tryLock)); // cannot deadlock, but later locks order after it
    return ok;
  }

  unlock(): void {
    const c = this.#cell;
    if (LOCKDEP) released(this.#cls(), this.name, SharedMutex.prototype.unlock);
    const prev = Atomics.sub(c, 0, 1);
    if (prev === LOCKED) return;
    Atomics.store(c, 0, UNLOCKED);
    if (prev === CONTENDED) {
      Atomics.notify(c, 0, 1);
      return;
    }
    throw new TkvmError('ERR_SYNC_NOT_LOCKED', `mutex "${this.name}" unlocked while not locked`);
  }

  /** Whether some thread holds it now (a snapshot, for assertions and stats). */
  get locked(): boolean {
    return Atomics.load(this.#cell, 0) !== UNLOCKED;
  }

  #lockContended(): void {
    const c = this.#cell;
    // Mark contended; sleep while it stays contended; retry by exchanging in 2.
    while (Atomics.exchange(c, 0, CONTENDED) !== UNLOCKED) Atomics.wait(c, 0, CONTENDED);
  }

  #cls(): number {
    if (this.#class === -2) this.#class = lockClass(this.name);
    return this.#class;
  }
}

/**
 * Blocks while `cell[index] === value`, for at most `timeoutMs` (forever
 * when omitted): Atomics.wait. With lockdep on, a lock held across it is
 * reported, naming `site` (or the caller's stack) and the lock's site.
 */
export function waitFor(cell: Int32Array, index: number, value: number, timeoutMs?: number, site?: string): WaitResult {
  if (LOCKDEP) beforeWait(site, waitFor);
  return Atomics.wait(cell, index, value, timeoutMs ?? Infinity);
}

/** Wakes up to `count` (all by default) threads in waitFor/parkWhile on the cell. */
export function wake(cell: Int32Array, index: number, count?: number): number {
  return Atomics.notify(cell, index, count ?? Infinity);
}

/**
 * The main thread's wait: Atomics.waitAsync. `async: false` means the value
 * already differs (or the timeout is 0); otherwise `value` settles with
 * 'ok' or 'timed-out'. It never blocks the thread, so lockdep ignores it.
 */
export function waitForAsync(cell: Int32Array, index: number, value: number, timeoutMs?: number):
  { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> } {
  return Atomics.waitAsync(cell, index, value, timeoutMs ?? Infinity);
}

/**
 * Parks the calling thread while `cell[index] === value`, re-checking every
 * `pollMs` so that a missed wake-up costs at most that long. Returns the
 * value that released it.
 */
export function parkWhile(cell: Int32Array, index: number, value: number, site?: string, pollMs = 1000): number {
  let now = Atomics.load(cell, index);
  while (now === value) {
    waitFor(cell, index, value, pollMs, site);
    now = Atomics.load(cell, index);
  }
  return now;
}

/** Sets a cell and wakes every thread waiting on it (the partner of parkWhile/waitFor). */
export function publish(cell: Int32Array, index: number, value: number): void {
  Atomics.store(cell, index, value);
  Atomics.notify(cell, index);
}
