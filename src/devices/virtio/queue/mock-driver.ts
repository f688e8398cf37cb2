/**
 * A test-only virtio driver: lays out a split ring in a GuestMemory, adds
 * descriptor chains (direct or through an indirect table), publishes them,
 * and collects used entries, following the driver side of virtio 1.2 §2.7.
 * Low-level methods (writeDescriptor, publishHead, setAvailIdx...) let tests
 * build hostile rings that a real driver never would.
 */
import { GuestMemory } from '../../../memory/guest-memory.js';
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, VIRTQ_USED_F_NO_NOTIFY } from '../types.js';
import { DESCRIPTOR_SIZE, SplitQueue, type SplitQueueConfig, splitRingSizes, vringNeedEvent } from './split.js';

export interface MockBuffer {
  /** Contents of a device-readable buffer. */
  data?: Uint8Array;
  /** Length of a device-writable buffer (or of a readable one without data). */
  len?: number;
  writable: boolean;
}

export interface PlacedBuffer {
  addr: number;
  len: number;
  writable: boolean;
}

export interface RawDescriptorSpec {
  addr: number;
  len: number;
  flags?: number;
  next?: number;
}

export interface UsedEntry {
  id: number;
  len: number;
}

export interface MockDriverOptions {
  size: number;
  eventIdx?: boolean;
  indirectDesc?: boolean;
  /** Bytes for buffers and indirect tables (default 1 MiB). */
  dataBytes?: number;
  /** Guest-physical base of the single RAM region (default 0). */
  guestBase?: number;
  maxChainBytes?: number;
  /** Back the RAM with host-mapped memory (GuestMemory.allocate) instead of a plain buffer. */
  hostMapped?: boolean;
  /** Free-running ring index both sides start at (to exercise 16-bit wrap-around). */
  startIdx?: number;
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

export class MockDriver {
  readonly memory: GuestMemory;
  readonly size: number;
  readonly descTable: number;
  readonly availRing: number;
  readonly usedRing: number;
  readonly dataBase: number;
  readonly dataEnd: number;
  readonly options: MockDriverOptions;
  #freeDescriptors: number[];
  #chainDescriptors = new Map<number, number[]>();
  #availIdx = 0;
  #lastUsedSeen = 0;
  #lastKickAvail = 0;
  #dataNext: number;

  constructor(options: MockDriverOptions) {
    this.options = options;
    const { size } = options;
    this.size = size;
    const base = options.guestBase ?? 0;
    const sizes = splitRingSizes(size);
    this.descTable = base;
    this.availRing = base + sizes.descTable;
    this.usedRing = align(this.availRing + sizes.availRing, 4096);
    this.dataBase = align(this.usedRing + sizes.usedRing, 4096);
    this.dataEnd = this.dataBase + (options.dataBytes ?? 1 << 20);
    const region = { guestBase: base, size: align(this.dataEnd - base, 4096) };
    this.memory = options.hostMapped ? GuestMemory.allocate([region]) : GuestMemory.fromBuffers([region]);
    this.#freeDescriptors = Array.from({ length: size }, (_, i) => size - 1 - i);
    this.#dataNext = this.dataBase;
    const start = (options.startIdx ?? 0) & 0xffff;
    this.#lastUsedSeen = start;
    this.#lastKickAvail = start;
    this.setAvailIdx(start);
    this.memory.write16(this.usedRing + 2, start);
  }

  queueConfig(): SplitQueueConfig {
    return {
      size: this.size,
      descTable: this.descTable,
      availRing: this.availRing,
      usedRing: this.usedRing,
      eventIdx: this.options.eventIdx ?? false,
      indirectDesc: this.options.indirectDesc ?? false,
      ...(this.options.maxChainBytes !== undefined ? { maxChainBytes: this.options.maxChainBytes } : {}),
    };
  }

  /** The device side of this ring. */
  createQueue(): SplitQueue {
    const start = (this.options.startIdx ?? 0) & 0xffff;
    return new SplitQueue(this.memory, this.queueConfig(), { nextAvail: start, nextUsed: start });
  }

  get availIdx(): number {
    return this.#availIdx;
  }

  get freeDescriptors(): number {
    return this.#freeDescriptors.length;
  }

  get inFlight(): number {
    return this.#chainDescriptors.size;
  }

  /** Reserves `len` bytes of the data area (16-byte aligned); takeUsed recycles it once nothing is in flight. */
  alloc(len: number): number {
    const addr = align(this.#dataNext, 16);
    if (addr + len > this.dataEnd) throw new Error(`mock driver: out of data space for ${len} bytes`);
    this.#dataNext = addr + len;
    return addr;
  }

  /**
   * Places `buffers` (readable ones first, as §2.7.4.2 requires) in guest
   * RAM, links them as a chain (in an indirect table if asked) and makes it
   * available. Returns the head and where each buffer went.
   */
  addChain(buffers: readonly MockBuffer[], opts: { indirect?: boolean } = {}): { head: number; placed: PlacedBuffer[] } {
    if (buffers.length === 0) throw new Error('mock driver: empty chain');
    const placed = buffers.map((b) => {
      const len = b.data?.length ?? b.len ?? 0;
      const addr = this.alloc(len);
      if (b.data) this.memory.write(addr, b.data);
      return { addr, len, writable: b.writable };
    });
    const specs = placed.map((p) => ({ addr: p.addr, len: p.len, flags: p.writable ? VIRTQ_DESC_F_WRITE : 0 }));
    let head: number;
    if (opts.indirect) {
      const table = this.alloc(specs.length * DESCRIPTOR_SIZE);
      this.writeTable(table, specs.map((s, i) => ({ ...s, flags: s.flags | (i + 1 < specs.length ? VIRTQ_DESC_F_NEXT : 0), next: i + 1 < specs.length ? i + 1 : 0 })));
      head = this.#linkDirect([{ addr: table, len: specs.length * DESCRIPTOR_SIZE, flags: VIRTQ_DESC_F_INDIRECT }]);
    } else {
      head = this.#linkDirect(specs);
    }
    this.publishHead(head);
    return { head, placed };
  }

  #linkDirect(specs: ReadonlyArray<{ addr: number; len: number; flags: number }>): number {
    if (specs.length > this.#freeDescriptors.length) throw new Error('mock driver: descriptor table full');
    const indices = specs.map(() => this.#freeDescriptors.pop()!);
    specs.forEach((s, i) => {
      const last = i + 1 === specs.length;
      this.writeDescriptor(indices[i]!, { addr: s.addr, len: s.len, flags: s.flags | (last ? 0 : VIRTQ_DESC_F_NEXT), next: last ? 0 : indices[i + 1]! });
    });
    this.#chainDescriptors.set(indices[0]!, indices);
    return indices[0]!;
  }

  /** Writes descriptor `index` of the ring's descriptor table. */
  writeDescriptor(index: number, d: RawDescriptorSpec): void {
    this.#writeDescriptorAt(this.descTable + DESCRIPTOR_SIZE * index, d);
  }

  /** Writes an indirect table of descriptors at `addr`. */
  writeTable(addr: number, descriptors: readonly RawDescriptorSpec[]): void {
    descriptors.forEach((d, i) => this.#writeDescriptorAt(addr + DESCRIPTOR_SIZE * i, d));
  }

  #writeDescriptorAt(at: number, d: RawDescriptorSpec): void {
    const bytes = new Uint8Array(DESCRIPTOR_SIZE);
    const v = new DataView(bytes.buffer);
    v.setBigUint64(0, BigInt(d.addr), true);
    v.setUint32(8, d.len >>> 0, true);
    v.setUint16(12, d.flags ?? 0, true);
    v.setUint16(14, d.next ?? 0, true);
    this.memory.write(at, bytes);
  }

  /** Puts `head` in the next available-ring slot and bumps avail.idx. */
  publishHead(head: number): void {
    this.memory.write16(this.availRing + 4 + 2 * (this.#availIdx % this.size), head);
    // A real driver needs a write barrier here (ring entry before idx).
    this.setAvailIdx(this.#availIdx + 1);
  }

  /** Sets avail.idx directly (wraps to 16 bits). */
  setAvailIdx(idx: number): void {
    this.#availIdx = idx & 0xffff;
    this.memory.write16(this.availRing + 2, this.#availIdx);
  }

  setAvailFlags(flags: number): void {
    this.memory.write16(this.availRing, flags);
  }

  /** used_event: the used index at which the driver wants an interrupt (EVENT_IDX). */
  setUsedEvent(idx: number): void {
    this.memory.write16(this.availRing + 4 + 2 * this.size, idx & 0xffff);
  }

  /** avail_event as written by the device (EVENT_IDX). */
  availEvent(): number {
    return this.memory.read16(this.usedRing + 4 + 8 * this.size);
  }

  usedFlags(): number {
    return this.memory.read16(this.usedRing);
  }

  usedIdx(): number {
    return this.memory.read16(this.usedRing + 2);
  }

  /**
   * Whether the driver must notify the device about chains published since
   * the last call (§2.7.10.1), following avail_event or NO_NOTIFY.
   */
  kick(): boolean {
    const oldIdx = this.#lastKickAvail;
    this.#lastKickAvail = this.#availIdx;
    if (oldIdx === this.#availIdx) return false;
    if (this.options.eventIdx) return vringNeedEvent(this.availEvent(), this.#availIdx, oldIdx);
    return (this.usedFlags() & VIRTQ_USED_F_NO_NOTIFY) === 0;
  }

  /** Used entries published since the last call; their descriptors are freed. */
  takeUsed(): UsedEntry[] {
    const out: UsedEntry[] = [];
    const idx = this.usedIdx();
    while (this.#lastUsedSeen !== idx) {
      const at = this.usedRing + 4 + 8 * (this.#lastUsedSeen % this.size);
      const entry = { id: this.memory.read32(at), len: this.memory.read32(at + 4) };
      out.push(entry);
      const descs = this.#chainDescriptors.get(entry.id);
      if (descs) {
        this.#chainDescriptors.delete(entry.id);
        this.#freeDescriptors.push(...descs);
      }
      this.#lastUsedSeen = (this.#lastUsedSeen + 1) & 0xffff;
    }
    if (this.#chainDescriptors.size === 0) this.#dataNext = this.dataBase;
    return out;
  }

  read(addr: number, len: number): Uint8Array {
    return this.memory.read(addr, len);
  }

  /** Unmaps host-mapped RAM (a no-op for buffer-backed RAM). */
  close(): void {
    this.memory.close();
  }
}
