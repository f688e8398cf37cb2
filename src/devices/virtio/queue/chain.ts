/**
 * A parsed descriptor chain and the cursors devices use to consume it
 * (virtio 1.2 §2.7.4, §2.7.5). The chain was validated when it was popped:
 * every buffer lies inside guest RAM, device-readable buffers come before
 * device-writable ones, and the total size is capped. Devices read the
 * readable part with `reader()` and fill the writable part with `writer()`;
 * they never compute guest addresses themselves.
 */
import type { GuestMemory } from '../../../memory/guest-memory.js';
import type { HostRange, IoBuffers } from '../../../memory/io-buffers.js';
import { VirtqueueError } from './errors.js';

/** One guest buffer of a chain (after indirect tables are flattened). */
export interface ChainBuffer {
  /** Guest-physical address. */
  readonly addr: number;
  readonly len: number;
}

export class DescriptorChain {
  /** Index of the head descriptor: the id the device returns in the used ring. */
  readonly head: number;
  readonly memory: GuestMemory;
  /** Device-readable buffers, in chain order (zero-length ones dropped). */
  readonly readable: readonly ChainBuffer[];
  /** Device-writable buffers, in chain order (zero-length ones dropped). */
  readonly writable: readonly ChainBuffer[];
  /** Number of descriptors walked, including an indirect one and its table entries. */
  readonly descriptorCount: number;

  constructor(memory: GuestMemory, head: number, readable: ChainBuffer[], writable: ChainBuffer[], descriptorCount: number) {
    this.memory = memory;
    this.head = head;
    this.readable = readable;
    this.writable = writable;
    this.descriptorCount = descriptorCount;
  }

  get readableLength(): number {
    return totalLength(this.readable);
  }

  get writableLength(): number {
    return totalLength(this.writable);
  }

  /** A fresh cursor over the device-readable bytes. */
  reader(): ChainReader {
    return new ChainReader(this.memory, this.readable, this.head);
  }

  /** A fresh cursor over the device-writable bytes. */
  writer(): ChainWriter {
    return new ChainWriter(this.memory, this.writable, this.head);
  }
}

function totalLength(buffers: readonly ChainBuffer[]): number {
  let n = 0;
  for (const b of buffers) n += b.len;
  return n;
}

/** Shared position tracking for readers and writers. */
abstract class ChainCursor {
  protected readonly memory: GuestMemory;
  readonly #buffers: readonly ChainBuffer[];
  readonly #head: number;
  #index = 0;
  #offset = 0;
  #remaining: number;
  #consumed = 0;

  constructor(memory: GuestMemory, buffers: readonly ChainBuffer[], head: number) {
    this.memory = memory;
    this.#buffers = buffers;
    this.#head = head;
    this.#remaining = totalLength(buffers);
  }

  /** Bytes left between the cursor and the end of its part of the chain. */
  get remaining(): number {
    return this.#remaining;
  }

  protected get consumed(): number {
    return this.#consumed;
  }

  /**
   * Advances over `n` bytes, returning the guest ranges they occupy. Throws
   * ERR_VIRTQ_CHAIN_EXHAUSTED (without moving) if fewer than `n` remain.
   */
  protected take(n: number): ChainBuffer[] {
    this.#check(n);
    const out: ChainBuffer[] = [];
    let left = n;
    while (left > 0) {
      const b = this.#buffers[this.#index]!;
      const k = Math.min(left, b.len - this.#offset);
      out.push({ addr: b.addr + this.#offset, len: k });
      left -= k;
      this.#advanceInBuffer(b, k);
    }
    this.#remaining -= n;
    this.#consumed += n;
    return out;
  }

  /**
   * The guest address of the cursor when the next `n` bytes lie in one
   * buffer (the case the fixed-size readers and writers serve without
   * copying), else -1.
   */
  protected contiguousAt(n: number): number {
    const b = this.#buffers[this.#index];
    return b !== undefined && b.len - this.#offset >= n ? b.addr + this.#offset : -1;
  }

  /** Skips `n` bytes (allocates nothing). */
  skip(n: number): void {
    this.#check(n);
    let left = n;
    while (left > 0) {
      const b = this.#buffers[this.#index]!;
      const k = Math.min(left, b.len - this.#offset);
      left -= k;
      this.#advanceInBuffer(b, k);
    }
    this.#remaining -= n;
    this.#consumed += n;
  }

  #check(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`bad byte count ${n}`);
    if (n > this.#remaining) {
      throw new VirtqueueError('ERR_VIRTQ_CHAIN_EXHAUSTED', `chain ${this.#head}: ${n} bytes requested, ${this.#remaining} left`, { head: this.#head });
    }
  }

  #advanceInBuffer(b: ChainBuffer, k: number): void {
    this.#offset += k;
    if (this.#offset === b.len) {
      this.#index++;
      this.#offset = 0;
    }
  }

  /** Consumes `n` bytes as zero-copy views of guest RAM. */
  ioSlices(n: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const r of this.take(n)) for (const s of this.memory.slices(r.addr, r.len)) out.push(s);
    return out;
  }

  /** Consumes `n` bytes as host address ranges; throws for buffer-backed memory. */
  hostRanges(n: number): HostRange[] {
    const out: HostRange[] = [];
    for (const r of this.take(n)) for (const h of this.memory.hostRanges(r.addr, r.len)) out.push(h);
    return out;
  }

  /** Consumes `n` bytes as IoBuffers for a backend: views plus host ranges when the RAM is host-mapped. */
  ioBuffers(n: number): IoBuffers {
    const ranges = this.take(n);
    const slices: Uint8Array[] = [];
    for (const r of ranges) for (const s of this.memory.slices(r.addr, r.len)) slices.push(s);
    let hostRanges: HostRange[] | null = null;
    if (isHostMapped(this.memory)) {
      hostRanges = [];
      for (const r of ranges) for (const h of this.memory.hostRanges(r.addr, r.len)) hostRanges.push(h);
    }
    return { length: n, slices, hostRanges };
  }
}

function isHostMapped(memory: GuestMemory): boolean {
  return memory.regions().every((r) => r.hostAddr !== null);
}

/** Reads the device-readable part of a chain, front to back. */
export class ChainReader extends ChainCursor {
  /** Bytes read (or skipped) so far. */
  get bytesRead(): number {
    return this.consumed;
  }

  /** Copies the next `n` bytes out of guest RAM. */
  readBytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let o = 0;
    for (const r of this.take(n)) {
      out.set(this.memory.read(r.addr, r.len), o);
      o += r.len;
    }
    return out;
  }

  readU8(): number {
    const at = this.contiguousAt(1);
    if (at < 0) return this.readBytes(1)[0]!;
    const value = this.memory.read8(at);
    this.skip(1);
    return value;
  }

  readU16(): number {
    const at = this.contiguousAt(2);
    if (at >= 0) {
      const value = tryRead(this.memory, at, 2);
      if (value >= 0) {
        this.skip(2);
        return value;
      }
    }
    return view(this.readBytes(2)).getUint16(0, true);
  }

  readU32(): number {
    const at = this.contiguousAt(4);
    if (at >= 0) {
      const value = tryRead(this.memory, at, 4);
      if (value >= 0) {
        this.skip(4);
        return value;
      }
    }
    return view(this.readBytes(4)).getUint32(0, true);
  }

  readU64(): bigint {
    return view(this.readBytes(8)).getBigUint64(0, true);
  }
}

/** Fills the device-writable part of a chain, front to back. */
export class ChainWriter extends ChainCursor {
  /** Bytes written (or skipped) so far: what the used ring's `len` reports. */
  get bytesWritten(): number {
    return this.consumed;
  }

  write(bytes: Uint8Array): void {
    let o = 0;
    for (const r of this.take(bytes.length)) {
      this.memory.write(r.addr, bytes.subarray(o, o + r.len));
      o += r.len;
    }
  }

  /** Writes `n` copies of `value` (zeroes by default). */
  fill(n: number, value = 0): void {
    for (const r of this.take(n)) this.memory.fill(r.addr, r.len, value);
  }

  writeU8(value: number): void {
    const at = this.contiguousAt(1);
    if (at < 0) {
      this.write(Uint8Array.of(value));
      return;
    }
    this.memory.write8(at, value);
    this.skip(1);
  }

  writeU16(value: number): void {
    const b = new Uint8Array(2);
    view(b).setUint16(0, value, true);
    this.write(b);
  }

  writeU32(value: number): void {
    const b = new Uint8Array(4);
    view(b).setUint32(0, value >>> 0, true);
    this.write(b);
  }

  writeU64(value: bigint): void {
    const b = new Uint8Array(8);
    view(b).setBigUint64(0, BigInt.asUintN(64, value), true);
    this.write(b);
  }
}

/**
 * A 2- or 4-byte little-endian read at `at` (inside one chain buffer, so
 * inside guest RAM), or -1 when the bytes straddle two GuestMemory chunks
 * and must be copied out instead.
 */
function tryRead(memory: GuestMemory, at: number, size: 2 | 4): number {
  try {
    return size === 2 ? memory.read16(at) : memory.read32(at);
  } catch {
    return -1;
  }
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
