/**
 * Guest-physical to host-virtual translation for I/O straight into guest
 * RAM: the regions of a host-mapped GuestMemory, with their host addresses
 * as plain numbers, so that iovecs can be built without BigInt arithmetic.
 * Every range is checked against the regions again here; a range that is
 * not entirely guest RAM is refused, never clamped or wrapped.
 */
import type { GuestMemory } from './guest-memory.js';
import type { IovecList } from './iovec-list.js';

export class HostAddressMap {
  readonly #guestBase: number[];
  readonly #end: number[];
  readonly #hostBase: number[];
  #last = 0;

  private constructor(regions: ReadonlyArray<{ guestBase: number; size: number; hostAddr: number }>) {
    const sorted = [...regions].sort((a, b) => a.guestBase - b.guestBase);
    this.#guestBase = sorted.map((r) => r.guestBase);
    this.#end = sorted.map((r) => r.guestBase + r.size);
    this.#hostBase = sorted.map((r) => r.hostAddr);
  }

  /** The map of `memory`, or null when some region is not host-mapped (buffer-backed test memory). */
  static of(memory: GuestMemory): HostAddressMap | null {
    const regions: Array<{ guestBase: number; size: number; hostAddr: number }> = [];
    for (const r of memory.regions()) {
      if (r.hostAddr === null) return null;
      const hostAddr = Number(r.hostAddr);
      if (!Number.isSafeInteger(hostAddr + r.size) || BigInt(hostAddr) !== r.hostAddr) return null;
      regions.push({ guestBase: r.guestBase, size: r.size, hostAddr });
    }
    return regions.length > 0 ? new HostAddressMap(regions) : null;
  }

  /**
   * Appends the host ranges of guest bytes [addr, addr+len) to `iov`.
   * Returns false if part of the range is not guest RAM or `iov` is full;
   * `iov` may then hold part of the range (see IovecList.truncate).
   */
  append(iov: IovecList, addr: number, len: number): boolean {
    if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(len) || addr < 0 || len < 0) return false;
    let a = addr;
    let left = len;
    while (left > 0) {
      const r = this.#regionOf(a);
      if (r < 0) return false;
      const n = Math.min(left, this.#end[r]! - a);
      if (!iov.push(this.#hostBase[r]! + (a - this.#guestBase[r]!), n)) return false;
      a += n;
      left -= n;
    }
    return true;
  }

  /**
   * Appends the host ranges of `count` bytes starting `skip` bytes into the
   * guest buffers `buffers` (a descriptor chain's readable or writable part).
   * Returns false as `append` does, and when the buffers hold fewer than
   * `skip + count` bytes.
   */
  appendBuffers(iov: IovecList, buffers: ReadonlyArray<{ readonly addr: number; readonly len: number }>, skip: number, count: number): boolean {
    let toSkip = skip;
    let left = count;
    for (let i = 0; i < buffers.length && left > 0; i++) {
      const b = buffers[i]!;
      if (toSkip >= b.len) {
        toSkip -= b.len;
        continue;
      }
      const n = Math.min(b.len - toSkip, left);
      if (!this.append(iov, b.addr + toSkip, n)) return false;
      left -= n;
      toSkip = 0;
    }
    return left === 0;
  }

  #regionOf(addr: number): number {
    const last = this.#last;
    if (addr >= this.#guestBase[last]! && addr < this.#end[last]!) return last;
    for (let i = 0; i < this.#guestBase.length; i++) {
      if (addr >= this.#guestBase[i]! && addr < this.#end[i]!) {
        this.#last = i;
        return i;
      }
    }
    return -1;
  }
}
