/**
 * The handle table of a shared tree: handle numbers for the descriptors it
 * owns, in typed arrays (no object per handle). A handle with I/O in
 * flight on an I/O thread is not closed under it: `close` marks it and the
 * descriptor goes when the last operation ends, so its number can never
 * be reused by another file while a thread still reads or writes it.
 */
export const HandleKind = { FREE: 0, PATH: 1, FILE: 2, CLOSING: 3 } as const;

export const EBADF = 9;
export const EMFILE = 24;

export class HandleTable {
  readonly capacity: number;
  readonly fds: Int32Array;
  readonly kinds: Uint8Array;
  /** open(2) flags of a FILE handle. */
  readonly flags: Int32Array;
  /** Operations in flight on an I/O thread. */
  readonly busy: Uint32Array;
  /** 1 once RWF_NOWAIT writes were refused (EOPNOTSUPP) on this file. */
  readonly noNowaitWrites: Uint8Array;
  readonly #free: Int32Array;
  #freeCount = 0;
  #highWater = 0;
  #open = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.fds = new Int32Array(capacity).fill(-1);
    this.kinds = new Uint8Array(capacity);
    this.flags = new Int32Array(capacity);
    this.busy = new Uint32Array(capacity);
    this.noNowaitWrites = new Uint8Array(capacity);
    this.#free = new Int32Array(capacity);
  }

  /** Handles open (CLOSING ones included). */
  get open(): number {
    return this.#open;
  }

  /** A new handle for `fd`, or -EMFILE when the table is full (the caller closes `fd`). */
  add(fd: number, kind: number, flags: number): number {
    let h: number;
    if (this.#freeCount > 0) h = this.#free[--this.#freeCount]!;
    else if (this.#highWater < this.capacity) h = this.#highWater++;
    else return -EMFILE;
    this.fds[h] = fd;
    this.kinds[h] = kind;
    this.flags[h] = flags;
    this.busy[h] = 0;
    this.noNowaitWrites[h] = 0;
    this.#open++;
    return h;
  }

  /** The descriptor of open handle `h` (of `kind` when given), or -EBADF. */
  fd(h: number, kind = 0): number {
    if (!Number.isInteger(h) || h < 0 || h >= this.#highWater) return -EBADF;
    const k = this.kinds[h]!;
    if (k === HandleKind.FREE || k === HandleKind.CLOSING || (kind !== 0 && k !== kind)) return -EBADF;
    return this.fds[h]!;
  }

  /**
   * Ends handle `h`: returns its descriptor for the caller to close now,
   * -1 when I/O is in flight (the descriptor comes back from `settle`),
   * or -EBADF.
   */
  remove(h: number): number {
    const fd = this.fd(h);
    if (fd < 0) return fd;
    if (this.busy[h]! > 0) {
      this.kinds[h] = HandleKind.CLOSING;
      return -1;
    }
    this.#release(h);
    return fd;
  }

  /** One I/O operation on `h` ended: the descriptor to close now if `h` was closed meanwhile, else -1. */
  settle(h: number): number {
    this.busy[h]!--;
    if (this.busy[h] === 0 && this.kinds[h] === HandleKind.CLOSING) {
      const fd = this.fds[h]!;
      this.#release(h);
      return fd;
    }
    return -1;
  }

  /** Every handle still open, for dispose. */
  *all(): Generator<number> {
    for (let h = 0; h < this.#highWater; h++) if (this.kinds[h] !== HandleKind.FREE) yield h;
  }

  #release(h: number): void {
    this.kinds[h] = HandleKind.FREE;
    this.fds[h] = -1;
    this.#free[this.#freeCount++] = h;
    this.#open--;
  }
}
