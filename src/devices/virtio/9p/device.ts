/**
 * virtio-9p, the 9P transport device (device ID 9; virtio 1.2 lists the
 * ID in §5 "Device Types" without a section of its own, and the layout is
 * the one Linux's net/9p/trans_virtio.c and QEMU's virtio-9p implement,
 * include/uapi/linux/virtio_9p.h):
 *
 * - feature VIRTIO_9P_MOUNT_TAG (bit 0): the configuration space holds
 *   tag_len[2] (little-endian) and tag_len bytes of the mount tag, which
 *   the guest names in `mount -t 9p TAG`;
 * - one request queue: each chain carries one T-message in its
 *   device-readable buffers and gets the R-message in its device-writable
 *   ones (a message may span any number of descriptors).
 *
 * A request's bytes are gathered into one preallocated msize buffer
 * (requests are decoded synchronously, so one buffer serves them all),
 * except Twrite's data, which goes from guest RAM to the host file
 * through iovecs, as Rread's data goes from the file into guest RAM.
 * Replies complete out of order (virtio 1.2 §2.7.8) as the server's I/O
 * finishes. A reply larger than the writable part becomes Rlerror
 * (EMSGSIZE); a chain too short for even that is returned with length 0.
 */
import { HostAddressMap } from '../../../memory/host-address-map.js';
import type { IovecList } from '../../../memory/iovec-list.js';
import type { SharedTree } from '../../fs.js';
import { ConfigSpace } from '../config-space.js';
import { processResult, type QueueProcessResult, type VirtioDevice } from '../device.js';
import { type DeviceLogger, limitedLogger, silentLogger } from '../log.js';
import type { ChainBuffer, DescriptorChain } from '../queue/chain.js';
import { HELD, serviceQueue } from '../queue/service.js';
import type { SplitQueue } from '../queue/split.js';
import type { DeviceRuntime, RuntimeAware } from '../runtime/device-runtime.js';
import { featureMask, VirtioDeviceId, VirtioFeature } from '../types.js';
import { HEADER_SIZE, MAX_MSIZE, MessageType, TWRITE_HEADER_SIZE } from './messages.js';
import { type NinePCounters, type NinePIo, NinePServer } from './server.js';

/** VIRTIO_9P_MOUNT_TAG: the configuration space holds the mount tag. */
export const NINEP_F_MOUNT_TAG = 0;
/** Longest mount tag in bytes (QEMU's limit, MAX_TAG_LEN 255 less the NUL the guest adds). */
export const MAX_MOUNT_TAG_BYTES = 254;

/** A mount tag's problem, or null when it can be offered: 1 to 254 bytes of UTF-8, no NUL, no whitespace or commas. */
export function mountTagProblem(tag: string): string | null {
  const bytes = new TextEncoder().encode(tag);
  if (bytes.length === 0) return 'the mount tag is empty';
  if (bytes.length > MAX_MOUNT_TAG_BYTES) return `the mount tag is ${bytes.length} bytes, more than ${MAX_MOUNT_TAG_BYTES}`;
  if (/[\0\s,]/u.test(tag)) return 'the mount tag holds a NUL, a comma or whitespace';
  return null;
}

/** The configuration space: tag_len[2] tag[tag_len]. */
export function encodeNinePConfig(tag: string): ConfigSpace {
  const bytes = new TextEncoder().encode(tag);
  const config = new ConfigSpace(2 + bytes.length);
  config.view.setUint16(0, bytes.length, true);
  config.bytes.set(bytes, 2);
  return config;
}

export interface VirtioNinePOptions {
  tree: SharedTree;
  /** The mount tag (see mountTagProblem). */
  mountTag: string;
  /** Queue size offered (power of 2, default 128: Linux's virtio-9p uses up to 128 descriptors per request). */
  queueSize?: number;
  maxFids?: number;
  logger?: DeviceLogger;
}

export class VirtioNineP implements VirtioDevice, RuntimeAware {
  readonly deviceId = VirtioDeviceId.NINEP;
  readonly queueMaxSizes: readonly number[];
  readonly features = featureMask(VirtioFeature.VERSION_1, VirtioFeature.INDIRECT_DESC, VirtioFeature.EVENT_IDX, NINEP_F_MOUNT_TAG);
  readonly configSpace: ConfigSpace;
  readonly server: NinePServer;
  /** Chains returned with length 0: too short for a header or for an Rlerror. */
  dropped = 0;
  readonly #logger: DeviceLogger;
  #runtime: DeviceRuntime | null = null;
  #queue: SplitQueue | null = null;
  #map: HostAddressMap | null = null;
  /** Request gather buffer (decoding is synchronous: one serves every request). */
  readonly #request = new Uint8Array(MAX_MSIZE);

  constructor(options: VirtioNinePOptions) {
    const problem = mountTagProblem(options.mountTag);
    if (problem) throw new RangeError(problem);
    this.queueMaxSizes = [options.queueSize ?? 128];
    this.configSpace = encodeNinePConfig(options.mountTag);
    this.#logger = limitedLogger(options.logger ?? silentLogger, 'virtio-9p');
    this.server = new NinePServer({
      tree: options.tree, logger: this.#logger, track: (p) => this.#track(p),
      ...(options.maxFids !== undefined ? { maxFids: options.maxFids } : {}),
    });
  }

  get counters(): NinePCounters & { dropped: number; fids: number; inFlight: number } {
    return { ...this.server.counters, dropped: this.dropped, fids: this.server.fidCount, inFlight: this.server.inFlight };
  }

  attachRuntime(runtime: DeviceRuntime): void {
    this.#runtime = runtime;
  }

  readConfig(offset: number, data: Uint8Array): void {
    this.configSpace.read(offset, data);
  }

  writeConfig(_offset: number, _data: Uint8Array): void {}

  activate(_features: bigint, queues: ReadonlyArray<SplitQueue | null>): void {
    this.#queue = queues[0] ?? null;
    this.#map = this.#queue ? HostAddressMap.of(this.#queue.memory) : null;
  }

  queueNotified(index: number): QueueProcessResult {
    const queue = this.#queue;
    if (index !== 0 || !queue) return { notify: false, needsReset: false, more: false };
    return processResult(serviceQueue(queue, (chain) => this.#serve(queue, chain), (error) => this.#logger.warn(`virtio-9p: ${error.message}`)));
  }

  reset(): void {
    this.server.reset();
    this.#queue = null;
    this.#map = null;
  }

  #track<T>(operation: Promise<T>): Promise<T> {
    return this.#runtime ? this.#runtime.track(operation) : operation;
  }

  /** Serves one chain: returns the used length, or HELD when the reply comes later. */
  #serve(queue: SplitQueue, chain: DescriptorChain): number {
    const readable = chain.readableLength;
    if (readable < HEADER_SIZE || chain.writableLength < HEADER_SIZE + 4) {
      this.dropped++;
      this.#logger.warn(`virtio-9p: chain ${chain.head} too short for a request (${readable} readable) or an error reply (${chain.writableLength} writable)`);
      return 0;
    }
    const buf = this.#request;
    const reader = chain.reader();
    gather(reader.ioSlices(HEADER_SIZE), buf, 0);
    const size = buf[0]! | (buf[1]! << 8) | (buf[2]! << 16) | (buf[3]! * 0x100_0000);
    // A size past the readable bytes is a bad size: the decoder sees the length actually carried.
    const total = size <= readable ? size : readable;
    const wanted = Math.min(buf[4] === MessageType.Twrite ? Math.min(total, TWRITE_HEADER_SIZE) : total, buf.length);
    if (wanted > HEADER_SIZE) gather(reader.ioSlices(wanted - HEADER_SIZE), buf, HEADER_SIZE);
    const io = new ChainIo(this, queue, chain, total);
    io.submitting = true;
    this.server.submit(buf.subarray(0, wanted), total, io);
    io.submitting = false;
    return io.done ? io.used : HELD;
  }

  /** Host ranges of `count` bytes at `skip` into `buffers`, appended to `iov`. */
  appendRanges(buffers: readonly ChainBuffer[], skip: number, count: number, iov: IovecList): boolean {
    const map = this.#map;
    if (!map) return false;
    return map.appendBuffers(iov, buffers, skip, count);
  }

  /** A reply that came after `submit` returned. */
  completeLater(queue: SplitQueue, head: number, used: number): void {
    this.#runtime?.complete(queue, head, used);
  }
}

function gather(slices: Uint8Array[], out: Uint8Array, at: number): void {
  let p = at;
  for (const s of slices) {
    out.set(s, p);
    p += s.length;
  }
}

/** One request's buffers, as the server reaches them. */
class ChainIo implements NinePIo {
  readonly replyLimit: number;
  submitting = false;
  done = false;
  used = 0;
  readonly #device: VirtioNineP;
  readonly #queue: SplitQueue;
  readonly #chain: DescriptorChain;
  readonly #total: number;

  constructor(device: VirtioNineP, queue: SplitQueue, chain: DescriptorChain, total: number) {
    this.#device = device;
    this.#queue = queue;
    this.#chain = chain;
    this.#total = total;
    this.replyLimit = chain.writableLength;
  }

  appendPayload(iov: IovecList): boolean {
    return this.#device.appendRanges(this.#chain.readable, TWRITE_HEADER_SIZE, this.#total - TWRITE_HEADER_SIZE, iov);
  }

  readPayload(): Uint8Array {
    const reader = this.#chain.reader();
    reader.skip(TWRITE_HEADER_SIZE);
    return reader.readBytes(this.#total - TWRITE_HEADER_SIZE);
  }

  appendReplyRange(iov: IovecList, at: number, count: number): boolean {
    return this.#device.appendRanges(this.#chain.writable, at, count, iov);
  }

  finish(reply: Uint8Array, length: number, extra: number): void {
    if (this.done) return;
    this.done = true;
    if (length > 0) this.#chain.writer().write(reply.subarray(0, length));
    this.used = length + extra;
    if (!this.submitting) this.#device.completeLater(this.#queue, this.#chain.head, this.used);
  }
}
