/**
 * The device side of a split virtqueue (virtio 1.2 §2.7): descriptor table,
 * available ring and used ring at guest-physical addresses chosen by the
 * driver. `popAvail` walks and validates one descriptor chain at a time,
 * `pushUsed` returns it, and the EVENT_IDX / NO_NOTIFY machinery decides
 * when either side needs to notify the other.
 *
 * Everything the driver writes is hostile input: chains are bounded by the
 * queue size and a byte cap, every buffer is checked against guest RAM, and
 * a fault yields a VirtqueueError (never a crash or an endless loop).
 *
 * Memory ordering: the rings live in guest RAM mapped into this process and
 * are read with plain loads. x86 keeps loads and stores in order apart from
 * store→load, so the two full barriers of the notification protocol are
 * real instructions here (fullFence, a seq-cst Atomics operation, which V8
 * compiles to a locked instruction, i.e. mfence semantics): after storing
 * avail_event / used.flags and before re-reading avail.idx (§2.7.10), and
 * after publishing used.idx and before reading used_event / avail.flags
 * (§2.7.7.2). Without them a store can sit in the store buffer while the
 * load runs ahead, and the guest and the device each decide the other needs
 * no notification: a lost kick or interrupt, and hung I/O. The other
 * "fence" comments mark where a weaker architecture would need one too.
 */
import type { GuestMemory } from '../../../memory/guest-memory.js';
import {
  MAX_QUEUE_SIZE, VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE, VIRTQ_USED_F_NO_NOTIFY,
} from '../types.js';
import { type ChainBuffer, DescriptorChain } from './chain.js';
import { VirtqueueError, type VirtqueueErrorCode } from './errors.js';

/** A word that only the full fence touches. */
const FENCE_WORD = new Int32Array(new SharedArrayBuffer(4));
let fencesIssued = 0;

/**
 * A full memory barrier (smp_mb): a sequentially consistent read-modify-write
 * on shared memory, which orders every earlier store before every later load.
 */
export function fullFence(): void {
  Atomics.add(FENCE_WORD, 0, 1);
  fencesIssued++;
}

/** How many full fences this thread has issued (for tests). */
export function fenceCount(): number {
  return fencesIssued;
}

/** sizeof(struct virtq_desc) (§2.7.5). */
export const DESCRIPTOR_SIZE = 16;
/** Default cap on a chain's total buffer length: the used ring's len is a u32. */
export const DEFAULT_MAX_CHAIN_BYTES = 0xffff_ffff;

/** What the driver configured for one queue (from the transport's registers). */
export interface SplitQueueConfig {
  /** Queue size: a power of 2, at most 32768. */
  size: number;
  /** Guest-physical address of the descriptor table (16-byte aligned). */
  descTable: number;
  /** Guest-physical address of the available ring (2-byte aligned). */
  availRing: number;
  /** Guest-physical address of the used ring (4-byte aligned). */
  usedRing: number;
  /** VIRTIO_F_EVENT_IDX was negotiated. */
  eventIdx?: boolean;
  /** VIRTIO_F_INDIRECT_DESC was negotiated. */
  indirectDesc?: boolean;
  /** Cap on the sum of a chain's buffer lengths (default 4 GiB - 1). */
  maxChainBytes?: number;
}

/** Free-running 16-bit ring positions, for save/restore. */
export interface SplitQueueState {
  nextAvail: number;
  nextUsed: number;
}

/** Byte sizes of the three areas (§2.7, "Virtqueue Part Sizes"). */
export function splitRingSizes(size: number): { descTable: number; availRing: number; usedRing: number } {
  return { descTable: DESCRIPTOR_SIZE * size, availRing: 6 + 2 * size, usedRing: 6 + 8 * size };
}

/**
 * vring_need_event (§2.7.7.2, §2.7.10.1): true if `eventIdx` lies in the
 * window of indices [oldIdx, newIdx) that were just published, modulo 2^16.
 */
export function vringNeedEvent(eventIdx: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}

/**
 * One ring area (descriptor table, available or used ring): a DataView
 * straight over guest RAM when the area lies in one GuestMemory chunk (the
 * common case, no per-access lookup), else GuestMemory's checked accessors.
 * Offsets are always inside the area the queue validated.
 */
class RingArea {
  readonly #memory: GuestMemory;
  readonly #base: number;
  readonly #view: DataView | null;

  constructor(memory: GuestMemory, base: number, len: number) {
    this.#memory = memory;
    this.#base = base;
    let view: DataView | null = null;
    try {
      const bytes = memory.slice(base, len);
      view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch {
      // Straddles two chunks: keep using the checked accessors.
    }
    this.#view = view;
  }

  u16(offset: number): number {
    const v = this.#view;
    return v !== null ? v.getUint16(offset, true) : this.#memory.read16(this.#base + offset);
  }

  u32(offset: number): number {
    const v = this.#view;
    return v !== null ? v.getUint32(offset, true) : this.#memory.read32(this.#base + offset);
  }

  setU16(offset: number, value: number): void {
    const v = this.#view;
    if (v !== null) v.setUint16(offset, value, true);
    else this.#memory.write16(this.#base + offset, value);
  }

  setU32(offset: number, value: number): void {
    const v = this.#view;
    if (v !== null) v.setUint32(offset, value >>> 0, true);
    else this.#memory.write32(this.#base + offset, value);
  }
}

export class SplitQueue {
  readonly memory: GuestMemory;
  readonly size: number;
  readonly eventIdx: boolean;
  readonly indirectDesc: boolean;
  readonly maxChainBytes: number;
  readonly #desc: number;
  readonly #descArea: RingArea;
  readonly #availArea: RingArea;
  readonly #usedArea: RingArea;
  readonly #mask: number;
  /** The descriptor #readDescriptor read last (fields, so that walking a chain allocates nothing per descriptor). */
  #dAddr = 0;
  #dLen = 0;
  #dFlags = 0;
  #dNext = 0;
  #nextAvail: number;
  #nextUsed: number;
  /** used.idx when the driver was last considered notified. */
  #signalledUsed: number;
  /** Used entries pushed since the last needsNotification() call. */
  #unsignalled = 0;
  #broken: VirtqueueError | null = null;

  /** Validates the driver's configuration; throws a fatal ERR_VIRTQ_BAD_CONFIG VirtqueueError. */
  constructor(memory: GuestMemory, config: SplitQueueConfig, state: SplitQueueState = { nextAvail: 0, nextUsed: 0 }) {
    const { size, descTable, availRing, usedRing } = config;
    const bad = (why: string): never => {
      throw new VirtqueueError('ERR_VIRTQ_BAD_CONFIG', `virtqueue: ${why}`, { fatal: true });
    };
    if (!Number.isInteger(size) || size < 1 || size > MAX_QUEUE_SIZE || (size & (size - 1)) !== 0) bad(`queue size ${size} is not a power of 2 up to ${MAX_QUEUE_SIZE}`);
    const sizes = splitRingSizes(size);
    const area = (name: string, addr: number, len: number, align: number): void => {
      if (!Number.isSafeInteger(addr) || addr % align !== 0) bad(`${name} address ${addr} is not ${align}-byte aligned`);
      if (!memory.isValidRange(addr, len)) bad(`${name} at 0x${addr.toString(16)}+${len} is outside guest RAM`);
    };
    area('descriptor table', descTable, sizes.descTable, 16);
    area('available ring', availRing, sizes.availRing, 2);
    area('used ring', usedRing, sizes.usedRing, 4);
    const maxChainBytes = config.maxChainBytes ?? DEFAULT_MAX_CHAIN_BYTES;
    if (!Number.isSafeInteger(maxChainBytes) || maxChainBytes < 0) bad(`bad chain byte cap ${maxChainBytes}`);
    this.memory = memory;
    this.size = size;
    this.eventIdx = config.eventIdx ?? false;
    this.indirectDesc = config.indirectDesc ?? false;
    this.maxChainBytes = maxChainBytes;
    this.#desc = descTable;
    this.#descArea = new RingArea(memory, descTable, sizes.descTable);
    this.#availArea = new RingArea(memory, availRing, sizes.availRing);
    this.#usedArea = new RingArea(memory, usedRing, sizes.usedRing);
    this.#mask = size - 1;
    this.#nextAvail = state.nextAvail & 0xffff;
    this.#nextUsed = state.nextUsed & 0xffff;
    this.#signalledUsed = this.#nextUsed;
  }

  /** The fatal error that stopped this queue, or null while it works. */
  get broken(): VirtqueueError | null {
    return this.#broken;
  }

  get state(): SplitQueueState {
    return { nextAvail: this.#nextAvail, nextUsed: this.#nextUsed };
  }

  /** How many chains the driver has made available and we have not popped (0 if broken). */
  availableCount(): number {
    if (this.#broken) return 0;
    return Math.min((this.#readAvailIdx() - this.#nextAvail) & 0xffff, this.size);
  }

  /**
   * Pops the next available chain, or returns null if there is none (or the
   * queue is broken). Throws VirtqueueError on a malformed ring or chain:
   * with `head` set when the chain was consumed (complete it with used
   * length 0), and with `fatal` set when the queue is now broken; the device
   * must then set DEVICE_NEEDS_RESET. A broken queue never throws again.
   */
  popAvail(): DescriptorChain | null {
    if (this.#broken) return null;
    const availIdx = this.#readAvailIdx();
    const pending = (availIdx - this.#nextAvail) & 0xffff;
    if (pending === 0) return null;
    if (pending > this.size) {
      this.#fail('ERR_VIRTQ_AVAIL_IDX_JUMP', `avail.idx ${availIdx} is ${pending} entries ahead of ${this.#nextAvail} in a queue of ${this.size}`);
    }
    // fence (smp_rmb): the ring entry must be read after avail.idx.
    const head = this.#availArea.u16(4 + 2 * (this.#nextAvail & this.#mask));
    this.#nextAvail = (this.#nextAvail + 1) & 0xffff;
    if (head >= this.size) this.#fail('ERR_VIRTQ_HEAD_OUT_OF_RANGE', `head index ${head} is not below queue size ${this.size}`);
    return this.#walkChain(head);
  }

  /**
   * Returns chain `head` to the driver with `len` bytes written into its
   * device-writable buffers (§2.7.8). A no-op once the queue is broken.
   * With `publish` false the entry is written but used.idx is not moved
   * yet: the next publishing push makes it and the entries before it
   * visible together (virtio-net's merged receive buffers, §5.1.6.4, which
   * the driver expects to find all at once).
   */
  pushUsed(head: number, len: number, publish = true): void {
    if (!Number.isInteger(head) || head < 0 || head >= this.size) throw new RangeError(`used head ${head} is not below queue size ${this.size}`);
    if (!Number.isInteger(len) || len < 0 || len > 0xffff_ffff) throw new RangeError(`used length ${len} is not a u32`);
    if (this.#broken) return;
    const entry = 4 + 8 * (this.#nextUsed & this.#mask);
    this.#usedArea.setU32(entry, head);
    this.#usedArea.setU32(entry + 4, len);
    // fence (smp_wmb): the entry must be visible before the new used.idx.
    this.#nextUsed = (this.#nextUsed + 1) & 0xffff;
    if (publish) this.#usedArea.setU16(2, this.#nextUsed);
    this.#unsignalled++;
  }

  /**
   * Whether the driver must get a used-buffer notification for the entries
   * pushed since the last call (§2.7.7.2): with EVENT_IDX, if used_event
   * falls in the newly published window; without it, unless the driver set
   * VIRTQ_AVAIL_F_NO_INTERRUPT. Call once per batch; a true result means the
   * transport must raise the queue's interrupt.
   */
  needsNotification(): boolean {
    if (this.#broken || this.#unsignalled === 0) return false;
    // The used.idx store must be visible before used_event / avail.flags are read.
    fullFence();
    const oldIdx = this.#signalledUsed;
    const wrapped = this.#unsignalled > 0xffff;
    this.#signalledUsed = this.#nextUsed;
    this.#unsignalled = 0;
    if (!this.eventIdx) return (this.#availArea.u16(0) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
    if (wrapped) return true;
    const usedEvent = this.#availArea.u16(4 + 2 * this.size);
    return vringNeedEvent(usedEvent, this.#nextUsed, oldIdx);
  }

  /**
   * Asks the driver to notify us about new buffers (§2.7.10): sets
   * avail_event to the next index we will pop (EVENT_IDX) or clears
   * VIRTQ_USED_F_NO_NOTIFY. Then re-reads avail.idx and returns true if
   * buffers arrived meanwhile, so the caller processes them instead of
   * sleeping (a notification for them may never come).
   */
  enableNotification(): boolean {
    if (this.#broken) return false;
    if (this.eventIdx) this.#usedArea.setU16(4 + 8 * this.size, this.#nextAvail);
    else this.#usedArea.setU16(0, 0);
    // The store above must be visible before avail.idx is re-read.
    fullFence();
    return this.#readAvailIdx() !== this.#nextAvail;
  }

  /**
   * Tells the driver it need not notify us while we are processing. Without
   * EVENT_IDX this sets VIRTQ_USED_F_NO_NOTIFY; with EVENT_IDX the stale
   * avail_event already suppresses all but one notification.
   */
  disableNotification(): void {
    if (this.#broken || this.eventIdx) return;
    this.#usedArea.setU16(0, VIRTQ_USED_F_NO_NOTIFY);
  }

  #readAvailIdx(): number {
    return this.#availArea.u16(2);
  }

  #fail(code: 'ERR_VIRTQ_AVAIL_IDX_JUMP' | 'ERR_VIRTQ_HEAD_OUT_OF_RANGE', message: string): never {
    this.#broken = new VirtqueueError(code, `virtqueue broken: ${message}`, { fatal: true });
    throw this.#broken;
  }

  /** Walks chain `head`, following at most one indirect table (§2.7.5.3). */
  #walkChain(head: number): DescriptorChain {
    const readable: ChainBuffer[] = [];
    const writable: ChainBuffer[] = [];
    let table = this.#desc;
    let tableEntries = this.size;
    let inIndirect = false;
    let index = head;
    let walkedInTable = 0;
    let walked = 0;
    let totalBytes = 0;
    let seenWritable = false;
    for (;;) {
      if (++walkedInTable > tableEntries) chainError(head, 'ERR_VIRTQ_CHAIN_TOO_LONG', `more than ${tableEntries} descriptors${inIndirect ? ' in indirect table' : ''} (loop?)`);
      walked++;
      this.#readDescriptor(inIndirect ? table : -1, index, head);
      const addr = this.#dAddr;
      const len = this.#dLen;
      const flags = this.#dFlags;
      if (flags & VIRTQ_DESC_F_INDIRECT) {
        if (inIndirect) chainError(head, 'ERR_VIRTQ_NESTED_INDIRECT', 'indirect descriptor inside an indirect table');
        if (!this.indirectDesc) chainError(head, 'ERR_VIRTQ_INDIRECT_NOT_NEGOTIATED', 'indirect descriptor without VIRTIO_F_INDIRECT_DESC');
        if (flags & VIRTQ_DESC_F_NEXT) chainError(head, 'ERR_VIRTQ_INDIRECT_WITH_NEXT', 'descriptor has both INDIRECT and NEXT');
        if (len === 0 || len % DESCRIPTOR_SIZE !== 0) chainError(head, 'ERR_VIRTQ_INDIRECT_BAD_LENGTH', `indirect table length ${len} is not a positive multiple of 16`);
        if (len / DESCRIPTOR_SIZE > this.size) chainError(head, 'ERR_VIRTQ_CHAIN_TOO_LONG', `indirect table of ${len / DESCRIPTOR_SIZE} entries exceeds queue size ${this.size}`);
        if (!this.memory.isValidRange(addr, len)) chainError(head, 'ERR_VIRTQ_DESC_OUT_OF_RANGE', `indirect table at 0x${addr.toString(16)}+${len} is outside guest RAM`);
        table = addr;
        tableEntries = len / DESCRIPTOR_SIZE;
        inIndirect = true;
        index = 0;
        walkedInTable = 0;
        continue;
      }
      const isWritable = (flags & VIRTQ_DESC_F_WRITE) !== 0;
      if (!isWritable && seenWritable) chainError(head, 'ERR_VIRTQ_READABLE_AFTER_WRITABLE', 'device-readable descriptor after a device-writable one');
      totalBytes += len;
      if (totalBytes > this.maxChainBytes) chainError(head, 'ERR_VIRTQ_CHAIN_TOO_LARGE', `buffers exceed ${this.maxChainBytes} bytes`);
      if (len > 0) {
        if (!this.memory.isValidRange(addr, len)) chainError(head, 'ERR_VIRTQ_DESC_OUT_OF_RANGE', `buffer at 0x${addr.toString(16)}+${len} is outside guest RAM`);
        (isWritable ? writable : readable).push({ addr, len });
      }
      seenWritable ||= isWritable;
      if (!(flags & VIRTQ_DESC_F_NEXT)) break;
      const next = this.#dNext;
      if (next >= tableEntries) chainError(head, 'ERR_VIRTQ_NEXT_OUT_OF_RANGE', `next index ${next} is not below ${tableEntries}`);
      index = next;
    }
    return new DescriptorChain(this.memory, head, readable, writable, walked);
  }

  /**
   * Reads descriptor `index` of the queue's table (`table` = -1) or of the
   * indirect table at guest address `table` (range already checked) into
   * #dAddr/#dLen/#dFlags/#dNext.
   */
  #readDescriptor(table: number, index: number, head: number): void {
    let lo: number; let hi: number;
    if (table < 0) {
      const at = DESCRIPTOR_SIZE * index;
      const area = this.#descArea;
      lo = area.u32(at);
      hi = area.u32(at + 4);
      this.#dLen = area.u32(at + 8);
      this.#dFlags = area.u16(at + 12);
      this.#dNext = area.u16(at + 14);
    } else {
      const at = table + DESCRIPTOR_SIZE * index;
      try {
        lo = this.memory.read32(at);
        hi = this.memory.read32(at + 4);
        this.#dLen = this.memory.read32(at + 8);
        this.#dFlags = this.memory.read16(at + 12);
        this.#dNext = this.memory.read16(at + 14);
      } catch {
        // An unaligned indirect table can straddle two host mappings: copy it out.
        const v = new DataView(this.memory.read(at, DESCRIPTOR_SIZE).buffer);
        lo = v.getUint32(0, true);
        hi = v.getUint32(4, true);
        this.#dLen = v.getUint32(8, true);
        this.#dFlags = v.getUint16(12, true);
        this.#dNext = v.getUint16(14, true);
      }
    }
    if (hi >= 0x20_0000) {
      throw new VirtqueueError('ERR_VIRTQ_DESC_OUT_OF_RANGE', `chain ${head}: descriptor address 0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')} is outside guest RAM`, { head });
    }
    this.#dAddr = hi * 0x1_0000_0000 + lo;
  }
}

/** Throws the per-chain error for chain `head` (the chain is consumed; the queue still works). */
function chainError(head: number, code: VirtqueueErrorCode, why: string): never {
  throw new VirtqueueError(code, `chain ${head}: ${why}`, { head });
}
