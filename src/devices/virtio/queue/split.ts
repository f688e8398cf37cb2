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
 * are read with plain loads. JS code is not reordered across the calls into
 * the kernel that separate a guest's notification from our processing, and
 * x86 keeps loads and stores in order apart from store→load, so only the
 * full barriers marked "fence (smp_mb)" below would need a real instruction
 * on x86; the other "fence" comments mark where a weaker architecture would
 * need one too.
 */
import type { GuestMemory } from '../../../memory/guest-memory.js';
import {
  MAX_QUEUE_SIZE, VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE, VIRTQ_USED_F_NO_NOTIFY,
} from '../types.js';
import { type ChainBuffer, DescriptorChain } from './chain.js';
import { VirtqueueError } from './errors.js';

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

interface RawDescriptor {
  addr: number;
  len: number;
  flags: number;
  next: number;
}

export class SplitQueue {
  readonly memory: GuestMemory;
  readonly size: number;
  readonly eventIdx: boolean;
  readonly indirectDesc: boolean;
  readonly maxChainBytes: number;
  readonly #desc: number;
  readonly #avail: number;
  readonly #used: number;
  readonly #mask: number;
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
    this.#avail = availRing;
    this.#used = usedRing;
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
    const head = this.memory.read16(this.#avail + 4 + 2 * (this.#nextAvail & this.#mask));
    this.#nextAvail = (this.#nextAvail + 1) & 0xffff;
    if (head >= this.size) this.#fail('ERR_VIRTQ_HEAD_OUT_OF_RANGE', `head index ${head} is not below queue size ${this.size}`);
    return this.#walkChain(head);
  }

  /**
   * Returns chain `head` to the driver with `len` bytes written into its
   * device-writable buffers (§2.7.8). A no-op once the queue is broken.
   */
  pushUsed(head: number, len: number): void {
    if (!Number.isInteger(head) || head < 0 || head >= this.size) throw new RangeError(`used head ${head} is not below queue size ${this.size}`);
    if (!Number.isInteger(len) || len < 0 || len > 0xffff_ffff) throw new RangeError(`used length ${len} is not a u32`);
    if (this.#broken) return;
    const entry = this.#used + 4 + 8 * (this.#nextUsed & this.#mask);
    this.memory.write32(entry, head);
    this.memory.write32(entry + 4, len);
    // fence (smp_wmb): the entry must be visible before the new used.idx.
    this.#nextUsed = (this.#nextUsed + 1) & 0xffff;
    this.memory.write16(this.#used + 2, this.#nextUsed);
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
    // fence (smp_mb): the used.idx store must be visible before used_event / avail.flags are read.
    const oldIdx = this.#signalledUsed;
    const wrapped = this.#unsignalled > 0xffff;
    this.#signalledUsed = this.#nextUsed;
    this.#unsignalled = 0;
    if (!this.eventIdx) return (this.memory.read16(this.#avail) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
    if (wrapped) return true;
    const usedEvent = this.memory.read16(this.#avail + 4 + 2 * this.size);
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
    if (this.eventIdx) this.memory.write16(this.#used + 4 + 8 * this.size, this.#nextAvail);
    else this.memory.write16(this.#used, 0);
    // fence (smp_mb): the store above must be visible before avail.idx is re-read.
    return this.#readAvailIdx() !== this.#nextAvail;
  }

  /**
   * Tells the driver it need not notify us while we are processing. Without
   * EVENT_IDX this sets VIRTQ_USED_F_NO_NOTIFY; with EVENT_IDX the stale
   * avail_event already suppresses all but one notification.
   */
  disableNotification(): void {
    if (this.#broken || this.eventIdx) return;
    this.memory.write16(this.#used, VIRTQ_USED_F_NO_NOTIFY);
  }

  #readAvailIdx(): number {
    return this.memory.read16(this.#avail + 2);
  }

  #fail(code: 'ERR_VIRTQ_AVAIL_IDX_JUMP' | 'ERR_VIRTQ_HEAD_OUT_OF_RANGE', message: string): never {
    this.#broken = new VirtqueueError(code, `virtqueue broken: ${message}`, { fatal: true });
    throw this.#broken;
  }

  /** Walks chain `head`, following at most one indirect table (§2.7.5.3). */
  #walkChain(head: number): DescriptorChain {
    const chainError = (code: ConstructorParameters<typeof VirtqueueError>[0], why: string): never => {
      throw new VirtqueueError(code, `chain ${head}: ${why}`, { head });
    };
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
      if (++walkedInTable > tableEntries) chainError('ERR_VIRTQ_CHAIN_TOO_LONG', `more than ${tableEntries} descriptors${inIndirect ? ' in indirect table' : ''} (loop?)`);
      walked++;
      const d = this.#readDescriptor(table, index, head);
      if (d.flags & VIRTQ_DESC_F_INDIRECT) {
        if (inIndirect) chainError('ERR_VIRTQ_NESTED_INDIRECT', 'indirect descriptor inside an indirect table');
        if (!this.indirectDesc) chainError('ERR_VIRTQ_INDIRECT_NOT_NEGOTIATED', 'indirect descriptor without VIRTIO_F_INDIRECT_DESC');
        if (d.flags & VIRTQ_DESC_F_NEXT) chainError('ERR_VIRTQ_INDIRECT_WITH_NEXT', 'descriptor has both INDIRECT and NEXT');
        if (d.len === 0 || d.len % DESCRIPTOR_SIZE !== 0) chainError('ERR_VIRTQ_INDIRECT_BAD_LENGTH', `indirect table length ${d.len} is not a positive multiple of 16`);
        if (d.len / DESCRIPTOR_SIZE > this.size) chainError('ERR_VIRTQ_CHAIN_TOO_LONG', `indirect table of ${d.len / DESCRIPTOR_SIZE} entries exceeds queue size ${this.size}`);
        if (!this.memory.isValidRange(d.addr, d.len)) chainError('ERR_VIRTQ_DESC_OUT_OF_RANGE', `indirect table at 0x${d.addr.toString(16)}+${d.len} is outside guest RAM`);
        table = d.addr;
        tableEntries = d.len / DESCRIPTOR_SIZE;
        inIndirect = true;
        index = 0;
        walkedInTable = 0;
        continue;
      }
      const isWritable = (d.flags & VIRTQ_DESC_F_WRITE) !== 0;
      if (!isWritable && seenWritable) chainError('ERR_VIRTQ_READABLE_AFTER_WRITABLE', 'device-readable descriptor after a device-writable one');
      totalBytes += d.len;
      if (totalBytes > this.maxChainBytes) chainError('ERR_VIRTQ_CHAIN_TOO_LARGE', `buffers exceed ${this.maxChainBytes} bytes`);
      if (d.len > 0) {
        if (!this.memory.isValidRange(d.addr, d.len)) chainError('ERR_VIRTQ_DESC_OUT_OF_RANGE', `buffer at 0x${d.addr.toString(16)}+${d.len} is outside guest RAM`);
        (isWritable ? writable : readable).push({ addr: d.addr, len: d.len });
      }
      seenWritable ||= isWritable;
      if (!(d.flags & VIRTQ_DESC_F_NEXT)) break;
      if (d.next >= tableEntries) chainError('ERR_VIRTQ_NEXT_OUT_OF_RANGE', `next index ${d.next} is not below ${tableEntries}`);
      index = d.next;
    }
    return new DescriptorChain(this.memory, head, readable, writable, walked);
  }

  /** Reads descriptor `index` of the table at `table`; the table range was checked. */
  #readDescriptor(table: number, index: number, head: number): RawDescriptor {
    const at = table + DESCRIPTOR_SIZE * index;
    let lo: number; let hi: number; let len: number; let flags: number; let next: number;
    try {
      lo = this.memory.read32(at);
      hi = this.memory.read32(at + 4);
      len = this.memory.read32(at + 8);
      flags = this.memory.read16(at + 12);
      next = this.memory.read16(at + 14);
    } catch {
      // An unaligned indirect table can straddle two host mappings: copy it out.
      const v = new DataView(this.memory.read(at, DESCRIPTOR_SIZE).buffer);
      lo = v.getUint32(0, true);
      hi = v.getUint32(4, true);
      len = v.getUint32(8, true);
      flags = v.getUint16(12, true);
      next = v.getUint16(14, true);
    }
    if (hi >= 0x20_0000) {
      throw new VirtqueueError('ERR_VIRTQ_DESC_OUT_OF_RANGE', `chain ${head}: descriptor address 0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')} is outside guest RAM`, { head });
    }
    return { addr: hi * 0x1_0000_0000 + lo, len, flags, next };
  }
}
