/**
 * virtio-blk (virtio 1.2 §5.2): one request queue served from a DiskBackend.
 */
import type { DiskBackend } from '../../disk.js';
import { TkvmError } from '../../../util/errors.js';
import { HostAddressMap } from '../../../memory/host-address-map.js';
import { IovecList } from '../../../memory/iovec-list.js';
import type { DescriptorChain } from '../queue/chain.js';
import type { ConfigSpace } from '../config-space.js';
import { processResult, type QueueProcessResult, type VirtioDevice } from '../device.js';
import { type DeviceLogger, limitedLogger, silentLogger } from '../log.js';
import { VirtqueueError } from '../queue/errors.js';
import { DEFERRED, serviceQueue, type ServiceOptions } from '../queue/service.js';
import type { SplitQueue } from '../queue/split.js';
import { featureMask, hasFeature, MAX_QUEUE_SIZE, VirtioDeviceId, VirtioFeature } from '../types.js';
import { BLK_ID_BYTES, BlkFeature, type BlkLimits, encodeBlkConfig, SECTOR_SIZE } from './config.js';
import { BlkBatch } from './batch.js';
import { type BlkCounters, type BlkRequestContext, emptyBlkCounters, executeBlkRequest, segmentLimitViolation } from './request.js';

export interface VirtioBlkOptions {
  backend: DiskBackend;
  /** GET_ID answer: at most 20 bytes of UTF-8 (longer is truncated). */
  serial?: string;
  /** Queue size offered (power of 2, default 256). */
  queueSize?: number;
  /** Logical block size reported in blk_size (power of 2, at least 512; default 512). */
  blockSize?: number;
  logger?: DeviceLogger;
  /**
   * Most bytes one merged transfer of contiguous reads or writes may cover
   * (default DEFAULT_MAX_BATCH_BYTES); 0 turns merging off.
   */
  maxBatchBytes?: number;
}

/** Largest single segment the driver may use (size_max). */
const SIZE_MAX = 1 << 22;
/** Discard / write-zeroes limits offered (sectors per segment, segments per request). */
const MAX_DISCARD_SECTORS = 1 << 22;
const MAX_DISCARD_SEG = 32;

export class VirtioBlk implements VirtioDevice {
  readonly deviceId = VirtioDeviceId.BLOCK;
  readonly queueMaxSizes: readonly number[];
  readonly features: bigint;
  readonly counters: BlkCounters = emptyBlkCounters();
  readonly limits: BlkLimits;
  readonly configSpace: ConfigSpace;
  readonly #context: BlkRequestContext;
  readonly #logger: DeviceLogger;
  readonly #maxBatchBytes: number | undefined;
  /** Shared by every batch: one iovec array for the device's lifetime. */
  readonly #iov = new IovecList();
  #queues: ReadonlyArray<SplitQueue | null> = [];
  /** The merging state of the queue processed last, or null when it cannot merge (test memory, a backend without iovecs). */
  #batch: BlkBatch | null = null;
  readonly #handle: (chain: DescriptorChain) => number;
  readonly #onError: (error: Error) => void;
  readonly #serviceOptions: ServiceOptions;

  constructor(options: VirtioBlkOptions) {
    const { backend } = options;
    const queueSize = options.queueSize ?? 256;
    const blockSize = options.blockSize ?? SECTOR_SIZE;
    if (!Number.isInteger(queueSize) || queueSize < 4 || queueSize > MAX_QUEUE_SIZE || (queueSize & (queueSize - 1)) !== 0) throw new RangeError(`virtio-blk: bad queue size ${queueSize}`);
    if (!Number.isInteger(blockSize) || blockSize < SECTOR_SIZE || (blockSize & (blockSize - 1)) !== 0) throw new RangeError(`virtio-blk: bad block size ${blockSize}`);
    const readOnly = backend.readOnly;
    this.queueMaxSizes = [queueSize];
    this.features = featureMask(
      VirtioFeature.VERSION_1, VirtioFeature.INDIRECT_DESC, VirtioFeature.EVENT_IDX,
      BlkFeature.SIZE_MAX, BlkFeature.SEG_MAX, BlkFeature.BLK_SIZE, BlkFeature.FLUSH,
      ...(readOnly ? [BlkFeature.RO] : [BlkFeature.DISCARD, BlkFeature.WRITE_ZEROES]),
    );
    this.limits = {
      capacitySectors: Math.floor(backend.sizeBytes / SECTOR_SIZE),
      sizeMax: SIZE_MAX,
      // Header and status take two descriptors of a chain bounded by the queue size.
      segMax: queueSize - 2,
      blkSize: blockSize,
      numQueues: 1,
      maxDiscardSectors: MAX_DISCARD_SECTORS,
      maxDiscardSeg: MAX_DISCARD_SEG,
      discardSectorAlignment: blockSize / SECTOR_SIZE,
      maxWriteZeroesSectors: MAX_DISCARD_SECTORS,
      maxWriteZeroesSeg: MAX_DISCARD_SEG,
      writeZeroesMayUnmap: !readOnly,
    };
    this.configSpace = encodeBlkConfig(this.limits);
    this.#logger = limitedLogger(options.logger ?? silentLogger, 'virtio-blk');
    const maxBatchBytes = options.maxBatchBytes;
    if (maxBatchBytes !== undefined && (!Number.isSafeInteger(maxBatchBytes) || maxBatchBytes < 0)) throw new RangeError(`virtio-blk: bad batch size ${maxBatchBytes}`);
    this.#maxBatchBytes = maxBatchBytes;
    const serial = new Uint8Array(BLK_ID_BYTES);
    serial.set(new TextEncoder().encode(options.serial ?? '').subarray(0, BLK_ID_BYTES));
    this.#context = {
      backend,
      capacitySectors: this.limits.capacitySectors,
      readOnly,
      serial,
      maxDiscardSectors: this.limits.maxDiscardSectors,
      maxDiscardSeg: this.limits.maxDiscardSeg,
      maxWriteZeroesSectors: this.limits.maxWriteZeroesSectors,
      maxWriteZeroesSeg: this.limits.maxWriteZeroesSeg,
      writeZeroesMayUnmap: this.limits.writeZeroesMayUnmap,
      sizeMax: this.limits.sizeMax,
      segMax: this.limits.segMax,
      writeThrough: false,
      counters: this.counters,
      logger: this.#logger,
    };
    this.#handle = (chain) => {
      const batch = this.#batch;
      if (batch !== null) {
        // A chain over size_max / seg_max takes the per-request path, which fails it.
        if (segmentLimitViolation(chain, this.#context) === null && batch.offer(chain)) return DEFERRED;
        batch.flush();
      }
      return executeBlkRequest(chain, this.#context);
    };
    this.#onError = (error) => {
      // Chains the queue rejected never reached executeBlkRequest: count them here.
      if (error instanceof VirtqueueError && error.code !== 'ERR_VIRTQ_CHAIN_EXHAUSTED') {
        this.counters.requests++;
        this.counters.malformed++;
      }
      this.counters.errors++;
      this.#logger.warn(`virtio-blk: ${error.message}`);
    };
    this.#serviceOptions = { flush: () => this.#batch?.flush() ?? 0 };
  }

  /** The disk requests go to. */
  get backend(): DiskBackend {
    return this.#context.backend;
  }

  /**
   * Serves requests from `backend` from now on (a drive given a new file
   * while the VM runs), with its capacity; GET_ID answers `serial` when
   * given. Call it between queue services (the device thread does), so that
   * no request is half done on the old disk. The features stay as the driver
   * negotiated them, so the new disk must be read-only exactly when the old
   * one was. Returns the new capacity in sectors; the caller publishes it in
   * the config space (capacityPatch) with a config change (virtio 1.2 §5.2.4:
   * capacity may change, the driver re-reads it on the notification). The
   * old backend is the caller's to close.
   */
  replaceBackend(backend: DiskBackend, serial?: string): number {
    if (backend.readOnly !== this.#context.readOnly) {
      throw new TkvmError('ERR_DISK_READONLY_CHANGE', `virtio-blk: the new disk is ${backend.readOnly ? 'read-only' : 'writable'}, the running device is not (features cannot change)`);
    }
    const capacitySectors = Math.floor(backend.sizeBytes / SECTOR_SIZE);
    // Between services the batch holds no chain; the next service builds one on the new backend.
    this.#batch = null;
    this.#context.backend = backend;
    this.#context.capacitySectors = capacitySectors;
    this.limits.capacitySectors = capacitySectors;
    if (serial !== undefined) {
      this.#context.serial.fill(0);
      this.#context.serial.set(new TextEncoder().encode(serial).subarray(0, BLK_ID_BYTES));
    }
    return capacitySectors;
  }

  readConfig(offset: number, data: Uint8Array): void {
    this.configSpace.read(offset, data);
  }

  /** Every offered field is read-only (CONFIG_WCE is not offered): writes are ignored. */
  writeConfig(_offset: number, _data: Uint8Array): void {}

  activate(features: bigint, queues: ReadonlyArray<SplitQueue | null>): void {
    this.#context.writeThrough = !hasFeature(features, BlkFeature.FLUSH);
    this.#queues = queues;
  }

  queueNotified(index: number): QueueProcessResult {
    const queue = this.#queues[index];
    if (!queue) return { notify: false, needsReset: false, more: false };
    return this.processQueue(queue);
  }

  /**
   * Performs every available request on `queue` through the backend,
   * merging contiguous reads or writes when the guest RAM is host-mapped
   * and the backend takes iovecs (see BlkBatch).
   */
  processQueue(queue: SplitQueue): QueueProcessResult {
    this.#batch = this.#batchFor(queue);
    return processResult(serviceQueue(queue, this.#handle, this.#onError, this.#serviceOptions));
  }

  reset(): void {
    this.#queues = [];
    this.#batch = null;
    this.#context.writeThrough = false;
  }

  #batchFor(queue: SplitQueue): BlkBatch | null {
    const current = this.#batch;
    if (current !== null && current.queue === queue) return current;
    const { backend } = this.#context;
    const { readIovecs, writeIovecs } = backend;
    if (this.#maxBatchBytes === 0 || !readIovecs || !writeIovecs) return null;
    const map = HostAddressMap.of(queue.memory);
    if (map === null) return null;
    return new BlkBatch({
      queue, context: this.#context, map, iov: this.#iov,
      backend: { readIovecs: readIovecs.bind(backend), writeIovecs: writeIovecs.bind(backend), flush: backend.flush.bind(backend) },
      ...(this.#maxBatchBytes !== undefined ? { maxBytes: this.#maxBatchBytes } : {}),
      onError: this.#onError,
    });
  }
}
