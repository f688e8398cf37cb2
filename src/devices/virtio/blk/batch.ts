/**
 * Merging of contiguous block requests (virtio 1.2 §5.2.6). Plain reads
 * (IN) or plain writes (OUT) that the driver made available together and
 * that cover consecutive sectors are performed with one preadv/pwritev
 * straight into guest RAM, then completed one by one, each with its own
 * status byte and used length.
 *
 * Only requests that would succeed on their own unless the host I/O fails
 * are merged: a whole number of sectors (at least one), inside the disk, a
 * header in one buffer, a status byte, writes only on a writable disk. Any
 * other chain is left to executeBlkRequest, after the pending batch has
 * been performed, so requests still take effect in the order they were made
 * available. When a merged transfer fails, each of its requests is run
 * again on its own, so errors stay per request.
 */
import type { IovecList } from '../../../memory/iovec-list.js';
import type { HostAddressMap } from '../../../memory/host-address-map.js';
import type { DiskBackend } from '../../disk.js';
import type { GuestMemory } from '../../../memory/guest-memory.js';
import type { ChainBuffer, DescriptorChain } from '../queue/chain.js';
import type { SplitQueue } from '../queue/split.js';
import { BlkRequestType, BlkStatus, REQUEST_HEADER_SIZE, SECTOR_SIZE } from './config.js';
import { type BlkRequestContext, executeBlkRequest } from './request.js';

/** Default cap on the bytes of one merged transfer: big enough to amortise the call, small enough that completions keep flowing. */
export const DEFAULT_MAX_BATCH_BYTES = 512 * 1024;

/** Descriptor addresses above 2^53 are impossible (SplitQueue refuses them); a sector this large is past any disk. */
const MAX_SECTOR_HI = 0x20_0000;
const TWO_32 = 0x1_0000_0000;

/** A request taken into the batch. */
interface PendingRequest {
  chain: DescriptorChain | null;
  /** Guest address of the status byte: the last device-writable byte. */
  statusAddr: number;
  /** Used length on success: every device-writable byte (data and status). */
  usedLength: number;
}

export interface BlkBatchOptions {
  queue: SplitQueue;
  context: BlkRequestContext;
  /** The backend's fast path must exist: `readIovecs` and `writeIovecs`. */
  backend: Required<Pick<DiskBackend, 'readIovecs' | 'writeIovecs' | 'flush'>>;
  map: HostAddressMap;
  iov: IovecList;
  maxBytes?: number;
  /** A request failed with an exception (it is completed with length 0). */
  onError: (error: Error, head: number) => void;
}

export class BlkBatch {
  readonly queue: SplitQueue;
  readonly #memory: GuestMemory;
  readonly #ctx: BlkRequestContext;
  readonly #backend: BlkBatchOptions['backend'];
  readonly #map: HostAddressMap;
  readonly #iov: IovecList;
  readonly #maxBytes: number;
  readonly #onError: BlkBatchOptions['onError'];
  /** Reused request records; the first #count are in the batch. */
  readonly #pending: PendingRequest[] = [];
  #count = 0;
  #write = false;
  /** Disk byte offset of the batch's first byte, and of the byte after its last. */
  #start = 0;
  #end = 0;

  constructor(options: BlkBatchOptions) {
    this.queue = options.queue;
    this.#memory = options.queue.memory;
    this.#ctx = options.context;
    this.#backend = options.backend;
    this.#map = options.map;
    this.#iov = options.iov;
    this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BATCH_BYTES;
    this.#onError = options.onError;
    this.#iov.clear();
  }

  /** Requests waiting in the batch. */
  get size(): number {
    return this.#count;
  }

  /**
   * Takes `chain` into the batch if it is a plain read or write (performing
   * the pending batch first when `chain` does not continue it). Returns
   * false for any other chain: the caller must then flush() and execute it
   * on its own.
   */
  offer(chain: DescriptorChain): boolean {
    const { readable, writable } = chain;
    if (readable.length === 0 || writable.length === 0) return false;
    const header = readable[0]!;
    if (header.len < REQUEST_HEADER_SIZE) return false;
    let type: number; let sectorLo: number; let sectorHi: number;
    try {
      type = this.#memory.read32(header.addr);
      sectorLo = this.#memory.read32(header.addr + 8);
      sectorHi = this.#memory.read32(header.addr + 12);
    } catch {
      return false; // the header straddles two GuestMemory chunks: the general path copies it out
    }
    const write = type === BlkRequestType.OUT;
    if (!write && type !== BlkRequestType.IN) return false;
    if (write && this.#ctx.readOnly) return false;
    const usedLength = chain.writableLength;
    const bytes = write ? chain.readableLength - REQUEST_HEADER_SIZE : usedLength - 1;
    if (bytes <= 0 || bytes % SECTOR_SIZE !== 0 || sectorHi >= MAX_SECTOR_HI) return false;
    const sector = sectorHi * TWO_32 + sectorLo;
    if (sector + bytes / SECTOR_SIZE > this.#ctx.capacitySectors) return false;
    const offset = sector * SECTOR_SIZE;
    if (this.#count > 0 && (write !== this.#write || offset !== this.#end || this.#iov.length + bytes > this.#maxBytes)) this.flush();
    if (!this.#appendData(chain, write, bytes)) {
      if (this.#count === 0) return false;
      // No room for its iovecs: perform the batch and start a new one with it.
      this.flush();
      if (!this.#appendData(chain, write, bytes)) return false;
    }
    if (this.#count === 0) {
      this.#write = write;
      this.#start = offset;
    }
    this.#end = offset + bytes;
    const status = writable[writable.length - 1]!;
    const p = this.#slot(this.#count++);
    p.chain = chain;
    p.statusAddr = status.addr + status.len - 1;
    p.usedLength = usedLength;
    return true;
  }

  /** Performs the pending transfer and pushes a used entry for each of its requests; returns how many. */
  flush(): number {
    const n = this.#count;
    if (n === 0) return 0;
    this.#count = 0;
    const ctx = this.#ctx;
    const write = this.#write;
    const bytes = this.#iov.length;
    let result = write ? this.#backend.writeIovecs(this.#start, this.#iov) : this.#backend.readIovecs(this.#start, this.#iov);
    if (result.ok && write && ctx.writeThrough) result = this.#backend.flush();
    this.#iov.clear();
    if (!result.ok) ctx.logger.warn(`virtio-blk: merged ${write ? 'write' : 'read'} of ${n} requests failed (${result.error.code} ${result.error.message}): retrying them one by one`);
    const c = ctx.counters;
    for (let i = 0; i < n; i++) {
      const p = this.#pending[i]!;
      const chain = p.chain!;
      p.chain = null;
      let used = 0;
      if (result.ok) {
        c.requests++;
        if (write) c.byType.out++;
        else c.byType.in++;
        this.#memory.write8(p.statusAddr, BlkStatus.OK);
        used = p.usedLength;
      } else {
        try {
          used = executeBlkRequest(chain, ctx);
        } catch (err) {
          this.#onError(err instanceof Error ? err : new Error(String(err)), chain.head);
        }
      }
      this.queue.pushUsed(chain.head, used);
    }
    if (result.ok) {
      if (write) c.writtenBytes += bytes;
      else c.readBytes += bytes;
    }
    return n;
  }

  /** Appends the data buffers of `chain` to the iovecs; on failure leaves them as they were. */
  #appendData(chain: DescriptorChain, write: boolean, bytes: number): boolean {
    const mark = this.#iov.length;
    // Reads fill the writable part up to the status byte; writes take the readable part after the header.
    const ok = write
      ? this.#appendBuffers(chain.readable, REQUEST_HEADER_SIZE, bytes)
      : this.#appendBuffers(chain.writable, 0, bytes);
    if (!ok) this.#iov.truncate(mark);
    return ok;
  }

  #appendBuffers(buffers: readonly ChainBuffer[], skip: number, bytes: number): boolean {
    return this.#map.appendBuffers(this.#iov, buffers, skip, bytes);
  }

  #slot(i: number): PendingRequest {
    let p = this.#pending[i];
    if (p === undefined) {
      p = { chain: null, statusAddr: 0, usedLength: 0 };
      this.#pending.push(p);
    }
    return p;
  }
}
