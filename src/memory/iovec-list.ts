/**
 * A reusable array of `struct iovec` (x86-64: void *iov_base; size_t
 * iov_len) for preadv(2)/pwritev(2), built without BigInt or per-call
 * allocation: host addresses are plain numbers (user-space addresses are
 * below 2^47, so every address and length here is an exact safe integer)
 * written as two 32-bit halves. Entries that continue the previous one in
 * host memory are merged, so a request whose buffers are adjacent in guest
 * RAM costs one iovec.
 */
import { IOV_MAX, IOVEC_SIZE } from './io-buffers.js';

const TWO_32 = 0x1_0000_0000;

export class IovecList {
  /** The encoded iovecs; only the first `count * IOVEC_SIZE` bytes are meaningful. */
  readonly bytes: Uint8Array;
  /** Most entries this list can hold (at most IOV_MAX, so one system call takes them all). */
  readonly capacity: number;
  readonly #view: DataView;
  #count = 0;
  #length = 0;
  /** Host address just past the last entry, for merging (-1 when empty). */
  #end = -1;

  constructor(capacity = IOV_MAX) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > IOV_MAX) throw new RangeError(`bad iovec capacity ${capacity}`);
    this.capacity = capacity;
    this.bytes = new Uint8Array(capacity * IOVEC_SIZE);
    this.#view = new DataView(this.bytes.buffer);
  }

  /** Entries in use. */
  get count(): number {
    return this.#count;
  }

  /** Total bytes the entries cover. */
  get length(): number {
    return this.#length;
  }

  clear(): void {
    this.#count = 0;
    this.#length = 0;
    this.#end = -1;
  }

  /**
   * Appends `len` bytes at host address `hostAddr`, merging with the last
   * entry when contiguous. Returns false (and changes nothing) when a new
   * entry is needed and the list is full.
   */
  push(hostAddr: number, len: number): boolean {
    if (len === 0) return true;
    const v = this.#view;
    if (hostAddr === this.#end && this.#count > 0) {
      const at = (this.#count - 1) * IOVEC_SIZE + 8;
      setU64(v, at, getU64(v, at) + len);
    } else {
      if (this.#count === this.capacity) return false;
      const at = this.#count * IOVEC_SIZE;
      setU64(v, at, hostAddr);
      setU64(v, at + 8, len);
      this.#count++;
    }
    this.#end = hostAddr + len;
    this.#length += len;
    return true;
  }

  /** Host address of entry `i`. */
  baseAt(i: number): number {
    return getU64(this.#view, this.#checked(i) * IOVEC_SIZE);
  }

  /** Length of entry `i`. */
  lengthAt(i: number): number {
    return getU64(this.#view, this.#checked(i) * IOVEC_SIZE + 8);
  }

  /**
   * Drops the first `n` bytes (after a short transfer): whole entries are
   * removed and the first remaining one is trimmed.
   */
  consume(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0 || n > this.#length) throw new RangeError(`cannot consume ${n} of ${this.#length} bytes`);
    const v = this.#view;
    let left = n;
    let drop = 0;
    while (left > 0 && left >= getU64(v, drop * IOVEC_SIZE + 8)) {
      left -= getU64(v, drop * IOVEC_SIZE + 8);
      drop++;
    }
    if (drop > 0) this.bytes.copyWithin(0, drop * IOVEC_SIZE, this.#count * IOVEC_SIZE);
    this.#count -= drop;
    if (left > 0) {
      setU64(v, 0, getU64(v, 0) + left);
      setU64(v, 8, getU64(v, 8) - left);
    }
    this.#length -= n;
    if (this.#count === 0) this.#end = -1;
  }

  /** Keeps only the first `bytes` bytes (undoes pushes made after `length` was `bytes`). */
  truncate(bytes: number): void {
    if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > this.#length) throw new RangeError(`cannot truncate ${this.#length} bytes to ${bytes}`);
    const v = this.#view;
    let kept = 0;
    let i = 0;
    while (kept < bytes) {
      const len = getU64(v, i * IOVEC_SIZE + 8);
      if (kept + len > bytes) setU64(v, i * IOVEC_SIZE + 8, bytes - kept);
      kept += Math.min(len, bytes - kept);
      i++;
    }
    this.#count = i;
    this.#length = bytes;
    this.#end = i === 0 ? -1 : getU64(v, (i - 1) * IOVEC_SIZE) + getU64(v, (i - 1) * IOVEC_SIZE + 8);
  }

  #checked(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.#count) throw new RangeError(`iovec ${i} is not below ${this.#count}`);
    return i;
  }
}

function setU64(v: DataView, at: number, value: number): void {
  v.setUint32(at, value % TWO_32, true);
  v.setUint32(at + 4, Math.floor(value / TWO_32), true);
}

function getU64(v: DataView, at: number): number {
  return v.getUint32(at + 4, true) * TWO_32 + v.getUint32(at, true);
}
