/**
 * virtio-rng, the entropy device (virtio 1.2 §5.4): one request queue whose
 * device-writable buffers are filled with random bytes from the host's
 * CSPRNG (getrandom via node:crypto). No configuration space.
 */
import { getRandomValues } from 'node:crypto';
import { processResult, type QueueProcessResult, type VirtioDevice } from '../device.js';
import { type DeviceLogger, limitedLogger, silentLogger } from '../log.js';
import type { DescriptorChain } from '../queue/chain.js';
import { serviceQueue } from '../queue/service.js';
import type { SplitQueue } from '../queue/split.js';
import { featureMask, VirtioDeviceId, VirtioFeature } from '../types.js';

export interface VirtioRngOptions {
  /** Queue size offered (power of 2, default 256). */
  queueSize?: number;
  /** Most bytes delivered per request (default 64 KiB); the rest of a buffer stays unwritten. */
  maxBytesPerRequest?: number;
  logger?: DeviceLogger;
}

/** getRandomValues fills at most 65536 bytes per call. */
const RANDOM_CHUNK = 65536;

export class VirtioRng implements VirtioDevice {
  readonly deviceId = VirtioDeviceId.ENTROPY;
  readonly queueMaxSizes: readonly number[];
  readonly features = featureMask(VirtioFeature.VERSION_1, VirtioFeature.INDIRECT_DESC, VirtioFeature.EVENT_IDX);
  readonly counters = { requests: 0, bytes: 0, errors: 0 };
  readonly maxBytesPerRequest: number;
  readonly #logger: DeviceLogger;
  #queues: ReadonlyArray<SplitQueue | null> = [];

  constructor(options: VirtioRngOptions = {}) {
    this.queueMaxSizes = [options.queueSize ?? 256];
    this.maxBytesPerRequest = options.maxBytesPerRequest ?? 64 * 1024;
    this.#logger = limitedLogger(options.logger ?? silentLogger, 'virtio-rng');
  }

  readConfig(_offset: number, data: Uint8Array): void {
    data.fill(0);
  }

  writeConfig(_offset: number, _data: Uint8Array): void {}

  activate(_features: bigint, queues: ReadonlyArray<SplitQueue | null>): void {
    this.#queues = queues;
  }

  queueNotified(index: number): QueueProcessResult {
    const queue = this.#queues[index];
    if (!queue) return { notify: false, needsReset: false, more: false };
    return this.processQueue(queue);
  }

  /** Fills every available request with random bytes. */
  processQueue(queue: SplitQueue): QueueProcessResult {
    return processResult(serviceQueue(queue, (chain) => this.#fill(chain), (error) => {
      this.counters.errors++;
      this.#logger.warn(`virtio-rng: ${error.message}`);
    }));
  }

  reset(): void {
    this.#queues = [];
  }

  #fill(chain: DescriptorChain): number {
    this.counters.requests++;
    const writer = chain.writer();
    const n = Math.min(writer.remaining, this.maxBytesPerRequest);
    for (const slice of writer.ioSlices(n)) {
      for (let o = 0; o < slice.length; o += RANDOM_CHUNK) getRandomValues(slice.subarray(o, o + RANDOM_CHUNK));
    }
    this.counters.bytes += n;
    return n;
  }
}
