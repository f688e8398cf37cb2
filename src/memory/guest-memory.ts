/**
 * Guest physical memory: host mappings that back guest RAM, with checked
 * accessors. Every access is bounds-checked against the regions, so a
 * guest-controlled address can never reach host memory outside guest RAM.
 *
 * Regions are split into chunks of at most 1 GiB, each with its own
 * ArrayBuffer view; an access that spans chunks is split transparently.
 * The same memory can be opened in any worker thread from `shareable()`.
 */
import * as sys from '../sys/libc.js';
import { GuestMemoryError } from './errors.js';

export { GuestMemoryError };

/** One contiguous range of guest RAM. */
export interface RegionSpec {
  guestBase: number;
  size: number;
}

/** What a worker needs to open the same guest RAM: addresses, not buffers. */
export interface SharedGuestMemory {
  regions: Array<RegionSpec & { hostAddr: bigint }>;
}

interface Chunk {
  guestBase: number;
  size: number;
  /** Host address of the chunk's first byte, or null for buffer-backed test memory. */
  hostAddr: bigint | null;
  bytes: Uint8Array;
  view: DataView;
}

const CHUNK_SIZE = 1 << 30;
export const PAGE_SIZE = 4096;

export class GuestMemory {
  readonly #chunks: Chunk[];
  readonly #regions: Array<RegionSpec & { hostAddr: bigint | null }>;
  readonly #owned: boolean;
  #lastChunk: Chunk;

  private constructor(regions: Array<RegionSpec & { hostAddr: bigint | null; buffer?: ArrayBuffer }>, owned: boolean) {
    this.#regions = regions.map(({ guestBase, size, hostAddr }) => ({ guestBase, size, hostAddr }));
    this.#owned = owned;
    this.#chunks = [];
    for (const r of regions) {
      for (let off = 0; off < r.size; off += CHUNK_SIZE) {
        const size = Math.min(CHUNK_SIZE, r.size - off);
        const hostAddr = r.hostAddr === null ? null : r.hostAddr + BigInt(off);
        const ab = hostAddr === null ? r.buffer! : sys.viewOf(hostAddr, size);
        const byteOffset = hostAddr === null ? off : 0;
        this.#chunks.push({
          guestBase: r.guestBase + off, size, hostAddr,
          bytes: new Uint8Array(ab, byteOffset, size),
          view: new DataView(ab, byteOffset, size),
        });
      }
    }
    this.#chunks.sort((a, b) => a.guestBase - b.guestBase);
    if (this.#chunks.length === 0) throw new RangeError('guest memory needs at least one region');
    for (let i = 1; i < this.#chunks.length; i++) {
      const prev = this.#chunks[i - 1]!;
      if (prev.guestBase + prev.size > this.#chunks[i]!.guestBase) throw new RangeError('guest memory regions overlap');
    }
    this.#lastChunk = this.#chunks[0]!;
  }

  /**
   * Maps anonymous memory for each region (MAP_NORESERVE: pages are only
   * committed when touched), marks it mergeable and excluded from core dumps.
   */
  static allocate(regions: readonly RegionSpec[]): GuestMemory {
    const mapped: Array<RegionSpec & { hostAddr: bigint }> = [];
    try {
      for (const r of regions) {
        if (r.size <= 0 || r.size % PAGE_SIZE !== 0) throw new RangeError(`region size ${r.size} is not a positive multiple of 4 KiB`);
        const hostAddr = sys.mmap(r.size, sys.PROT_READ | sys.PROT_WRITE, sys.MAP_PRIVATE | sys.MAP_ANONYMOUS | sys.MAP_NORESERVE);
        mapped.push({ ...r, hostAddr });
        try {
          sys.madvise(hostAddr, r.size, sys.MADV_DONTDUMP);
        } catch { /* advisory only */ }
      }
    } catch (err) {
      for (const m of mapped) sys.munmap(m.hostAddr, m.size);
      throw err;
    }
    return new GuestMemory(mapped, true);
  }

  /**
   * Maps guest RAM from a snapshot's memory file (regions one after the
   * other, from offset 0) private and copy-on-write: pages are read from the
   * file when the guest first touches them, and writes never reach the
   * file, so one file can back many VMs at once. The file must hold exactly
   * the regions' bytes; holes read as zeros.
   */
  static mapPrivateFile(regions: readonly RegionSpec[], fd: number): GuestMemory {
    const mapped: Array<RegionSpec & { hostAddr: bigint }> = [];
    let offset = 0;
    try {
      for (const r of regions) {
        if (r.size <= 0 || r.size % PAGE_SIZE !== 0) throw new RangeError(`region size ${r.size} is not a positive multiple of 4 KiB`);
        const hostAddr = sys.mmap(r.size, sys.PROT_READ | sys.PROT_WRITE, sys.MAP_PRIVATE | sys.MAP_NORESERVE, fd, offset);
        mapped.push({ ...r, hostAddr });
        offset += r.size;
        try {
          sys.madvise(hostAddr, r.size, sys.MADV_DONTDUMP);
        } catch { /* advisory only */ }
      }
    } catch (err) {
      for (const m of mapped) sys.munmap(m.hostAddr, m.size);
      throw err;
    }
    return new GuestMemory(mapped, true);
  }

  /** Opens memory that another thread allocated; this instance never unmaps it. */
  static fromShared(shared: SharedGuestMemory): GuestMemory {
    return new GuestMemory(shared.regions, false);
  }

  /** Plain-buffer memory for unit tests and mock drivers (no host addresses). */
  static fromBuffers(regions: ReadonlyArray<RegionSpec>): GuestMemory {
    return new GuestMemory(regions.map((r) => ({ ...r, hostAddr: null, buffer: new ArrayBuffer(r.size) })), false);
  }

  shareable(): SharedGuestMemory {
    return {
      regions: this.#regions.map((r) => {
        if (r.hostAddr === null) throw new Error('buffer-backed guest memory cannot be shared');
        return { guestBase: r.guestBase, size: r.size, hostAddr: r.hostAddr };
      }),
    };
  }

  /** The RAM regions, in guest-physical order. */
  regions(): ReadonlyArray<RegionSpec & { hostAddr: bigint | null }> {
    return this.#regions;
  }

  get totalSize(): number {
    return this.#regions.reduce((n, r) => n + r.size, 0);
  }

  /** True if [addr, addr+len) lies entirely in guest RAM. */
  isValidRange(addr: number, len: number): boolean {
    if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(len) || addr < 0 || len < 0) return false;
    let a = addr;
    const end = addr + len;
    while (a < end) {
      const c = this.#find(a);
      if (!c) return false;
      a = c.guestBase + c.size;
    }
    return len > 0 || this.#find(addr) !== undefined;
  }

  #find(addr: number): Chunk | undefined {
    const last = this.#lastChunk;
    if (addr >= last.guestBase && addr < last.guestBase + last.size) return last;
    for (const c of this.#chunks) {
      if (addr >= c.guestBase && addr < c.guestBase + c.size) {
        this.#lastChunk = c;
        return c;
      }
    }
    return undefined;
  }

  /** The chunk holding all of [addr, addr+len), or throws. */
  #chunkFor(addr: number, len: number): Chunk {
    if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(len) || addr < 0 || len < 0) throw new GuestMemoryError(addr, len);
    const c = this.#find(addr);
    if (!c || addr + len > c.guestBase + c.size) throw new GuestMemoryError(addr, len);
    return c;
  }

  /**
   * Views of guest RAM covering [addr, addr+len), split at chunk boundaries.
   * Zero-copy: writes to the views are writes to the guest.
   */
  slices(addr: number, len: number): Uint8Array[] {
    if (!this.isValidRange(addr, len)) throw new GuestMemoryError(addr, len);
    const out: Uint8Array[] = [];
    let a = addr;
    let left = len;
    while (left > 0) {
      const c = this.#find(a)!;
      const n = Math.min(left, c.guestBase + c.size - a);
      out.push(c.bytes.subarray(a - c.guestBase, a - c.guestBase + n));
      a += n;
      left -= n;
    }
    return out;
  }

  /** A single zero-copy view; throws if the range spans two chunks. */
  slice(addr: number, len: number): Uint8Array {
    const c = this.#chunkFor(addr, len);
    return c.bytes.subarray(addr - c.guestBase, addr - c.guestBase + len);
  }

  /** Host address ranges for [addr, addr+len): the entries of an iovec. */
  hostRanges(addr: number, len: number): Array<{ hostAddr: bigint; len: number }> {
    if (!this.isValidRange(addr, len)) throw new GuestMemoryError(addr, len);
    const out: Array<{ hostAddr: bigint; len: number }> = [];
    let a = addr;
    let left = len;
    while (left > 0) {
      const c = this.#find(a)!;
      if (c.hostAddr === null) throw new Error('buffer-backed guest memory has no host addresses');
      const n = Math.min(left, c.guestBase + c.size - a);
      out.push({ hostAddr: c.hostAddr + BigInt(a - c.guestBase), len: n });
      a += n;
      left -= n;
    }
    return out;
  }

  /** Copies `len` guest bytes into a new array. */
  read(addr: number, len: number): Uint8Array {
    const parts = this.slices(addr, len);
    const out = new Uint8Array(len);
    let o = 0;
    for (const s of parts) {
      out.set(s, o);
      o += s.length;
    }
    return out;
  }

  write(addr: number, src: Uint8Array): void {
    let o = 0;
    for (const s of this.slices(addr, src.length)) {
      s.set(src.subarray(o, o + s.length));
      o += s.length;
    }
  }

  fill(addr: number, len: number, value = 0): void {
    for (const s of this.slices(addr, len)) s.fill(value);
  }

  read8(addr: number): number {
    const c = this.#chunkFor(addr, 1);
    return c.bytes[addr - c.guestBase]!;
  }

  read16(addr: number): number {
    const c = this.#chunkFor(addr, 2);
    return c.view.getUint16(addr - c.guestBase, true);
  }

  read32(addr: number): number {
    const c = this.#chunkFor(addr, 4);
    return c.view.getUint32(addr - c.guestBase, true);
  }

  read64(addr: number): bigint {
    const c = this.#chunkFor(addr, 8);
    return c.view.getBigUint64(addr - c.guestBase, true);
  }

  write8(addr: number, value: number): void {
    const c = this.#chunkFor(addr, 1);
    c.bytes[addr - c.guestBase] = value;
  }

  write16(addr: number, value: number): void {
    const c = this.#chunkFor(addr, 2);
    c.view.setUint16(addr - c.guestBase, value, true);
  }

  write32(addr: number, value: number): void {
    const c = this.#chunkFor(addr, 4);
    c.view.setUint32(addr - c.guestBase, value >>> 0, true);
  }

  write64(addr: number, value: bigint): void {
    const c = this.#chunkFor(addr, 8);
    c.view.setBigUint64(addr - c.guestBase, BigInt.asUintN(64, value), true);
  }

  /** Reads a NUL-terminated string of at most `max` bytes. */
  readCString(addr: number, max: number): string {
    const bytes = this.read(addr, Math.min(max, this.#chunkFor(addr, 1).guestBase + this.#chunkFor(addr, 1).size - addr));
    const end = bytes.indexOf(0);
    return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
  }

  /** Unmaps memory this instance allocated. Views must not be used afterwards. */
  close(): void {
    if (!this.#owned) return;
    for (const r of this.#regions) if (r.hostAddr !== null) sys.munmap(r.hostAddr, r.size);
  }
}
