/**
 * virtio-console with a single port (virtio 1.2 §5.3, no MULTIPORT):
 * queue 0 is receiveq (host → guest), queue 1 is transmitq (guest → host).
 * Host input waits in a bounded buffer until the guest posts receive
 * buffers; guest output goes to an `output` callback.
 */
import { ConfigSpace } from '../config-space.js';
import { processResult, type QueueProcessResult, type VirtioDevice } from '../device.js';
import { type DeviceLogger, limitedLogger, silentLogger } from '../log.js';
import type { DescriptorChain } from '../queue/chain.js';
import { transmitChain } from './transmit.js';
import type { DeviceRuntime, RuntimeAware } from '../runtime/device-runtime.js';
import { serviceQueue } from '../queue/service.js';
import type { SplitQueue } from '../queue/split.js';
import { featureMask, hasFeature, VirtioDeviceId, VirtioFeature } from '../types.js';

/** Feature bits (§5.3.3). */
export const ConsoleFeature = {
  SIZE: 0,
  MULTIPORT: 1,
  EMERG_WRITE: 2,
} as const;

/** struct virtio_console_config (§5.3.4): le16 cols, le16 rows, le32 max_nr_ports, le32 emerg_wr. */
export const ConsoleConfigOffset = { cols: 0, rows: 2, maxNrPorts: 4, emergWr: 8 } as const;
export const CONSOLE_CONFIG_SIZE = 12;

export const RECEIVE_QUEUE = 0;
export const TRANSMIT_QUEUE = 1;

export interface VirtioConsoleOptions {
  /** Receives guest output; the bytes are a copy the callback may keep. */
  output: (bytes: Uint8Array) => void;
  /**
   * True while the receiver of output holds as much as it may (flow
   * control): transmit buffers then stay in the ring, so the guest waits,
   * until a wake-up (RuntimeAware.onWake) says the receiver has drained.
   */
  outputBlocked?: () => boolean;
  /** Console size; offering it sets VIRTIO_CONSOLE_F_SIZE. */
  size?: { cols: number; rows: number };
  /** Queue size offered for both queues (power of 2, default 256). */
  queueSize?: number;
  /** Host input kept while the guest has no receive buffers (default 64 KiB); more is dropped. */
  maxPendingInput?: number;
  /** Most bytes taken from one transmit buffer chain (default 1 MiB); the rest is dropped. */
  maxTransmitPerChain?: number;
  logger?: DeviceLogger;
}


export class VirtioConsole implements VirtioDevice, RuntimeAware {
  readonly deviceId = VirtioDeviceId.CONSOLE;
  readonly queueMaxSizes: readonly number[];
  readonly features: bigint;
  readonly counters = { receivedBytes: 0, transmittedBytes: 0, droppedInputBytes: 0, droppedOutputBytes: 0, errors: 0 };
  readonly #options: VirtioConsoleOptions;
  readonly configSpace = new ConfigSpace(CONSOLE_CONFIG_SIZE);
  readonly #logger: DeviceLogger;
  readonly #maxPending: number;
  #pending: Uint8Array[] = [];
  #pendingOffset = 0;
  #pendingBytes = 0;
  #queues: ReadonlyArray<SplitQueue | null> = [];
  #negotiated = 0n;
  #runtime: DeviceRuntime | null = null;
  readonly #transmitting: () => boolean;

  constructor(options: VirtioConsoleOptions) {
    this.#options = options;
    const queueSize = options.queueSize ?? 256;
    this.queueMaxSizes = [queueSize, queueSize];
    this.features = featureMask(
      VirtioFeature.VERSION_1, VirtioFeature.INDIRECT_DESC, VirtioFeature.EVENT_IDX, ConsoleFeature.EMERG_WRITE,
      ...(options.size ? [ConsoleFeature.SIZE] : []),
    );
    this.#maxPending = options.maxPendingInput ?? 64 * 1024;
    const blocked = options.outputBlocked;
    this.#transmitting = blocked ? () => !blocked() : () => true;
    this.#logger = limitedLogger(options.logger ?? silentLogger, 'virtio-console');
    this.configSpace.view.setUint32(ConsoleConfigOffset.maxNrPorts, 1, true);
    if (options.size) this.#setSize(options.size.cols, options.size.rows);
  }

  attachRuntime(runtime: DeviceRuntime): void {
    this.#runtime = runtime;
  }

  /** The receiver of output drained: serve the transmit buffers left waiting. */
  onWake(): void {
    this.#runtime?.kickQueue(TRANSMIT_QUEUE);
  }

  get pendingInputBytes(): number {
    return this.#pendingBytes;
  }

  readConfig(offset: number, data: Uint8Array): void {
    this.configSpace.read(offset, data);
  }

  /** Only emerg_wr is writable: its low byte is emitted at once (§5.3.6.1, EMERG_WRITE). */
  writeConfig(offset: number, data: Uint8Array): void {
    if (offset === ConsoleConfigOffset.emergWr && data.length >= 1) {
      this.counters.transmittedBytes++;
      this.#emit(Uint8Array.of(data[0]!));
    }
  }

  activate(features: bigint, queues: ReadonlyArray<SplitQueue | null>): void {
    this.#negotiated = features;
    this.#queues = queues;
  }

  queueNotified(index: number): QueueProcessResult {
    const queue = this.#queues[index];
    if (!queue) return { notify: false, needsReset: false, more: false };
    return index === RECEIVE_QUEUE ? this.processReceiveQueue(queue) : this.processTransmitQueue(queue);
  }

  reset(): void {
    this.#queues = [];
    this.#negotiated = 0n;
  }

  /**
   * Queues host input for the guest. Returns false if (part of) it was
   * dropped because the guest is not reading. Call receive() afterwards.
   */
  queueInput(bytes: Uint8Array): boolean {
    const room = Math.max(0, this.#maxPending - this.#pendingBytes);
    const kept = bytes.subarray(0, room);
    if (kept.length > 0) {
      this.#pending.push(kept.slice());
      this.#pendingBytes += kept.length;
    }
    this.counters.droppedInputBytes += bytes.length - kept.length;
    return kept.length === bytes.length;
  }

  /** Delivers pending input into the active receive queue. */
  receive(): QueueProcessResult {
    return this.queueNotified(RECEIVE_QUEUE);
  }

  /**
   * Changes cols/rows. Returns true if the driver negotiated
   * VIRTIO_CONSOLE_F_SIZE, i.e. the transport must send a configuration
   * change notification.
   */
  resize(cols: number, rows: number): boolean {
    if (!this.#options.size) return false;
    this.#setSize(cols, rows);
    return hasFeature(this.#negotiated, ConsoleFeature.SIZE);
  }

  /** Fills the guest's receive buffers from pending input; stops when the input runs out. */
  processReceiveQueue(queue: SplitQueue): QueueProcessResult {
    return processResult(serviceQueue(queue, (chain) => this.#deliver(chain), (error) => this.#error(error), {
      shouldContinue: () => this.#pendingBytes > 0,
    }));
  }

  /** Hands every available transmit buffer to the output callback. */
  processTransmitQueue(queue: SplitQueue): QueueProcessResult {
    return processResult(serviceQueue(queue, (chain) => this.#transmit(chain), (error) => this.#error(error), {
      shouldContinue: this.#transmitting,
    }));
  }

  #setSize(cols: number, rows: number): void {
    this.configSpace.view.setUint16(ConsoleConfigOffset.cols, cols & 0xffff, true);
    this.configSpace.view.setUint16(ConsoleConfigOffset.rows, rows & 0xffff, true);
  }

  #deliver(chain: DescriptorChain): number {
    const writer = chain.writer();
    while (writer.remaining > 0 && this.#pendingBytes > 0) {
      const head = this.#pending[0]!;
      const n = Math.min(writer.remaining, head.length - this.#pendingOffset);
      writer.write(head.subarray(this.#pendingOffset, this.#pendingOffset + n));
      this.#pendingOffset += n;
      this.#pendingBytes -= n;
      if (this.#pendingOffset === head.length) {
        this.#pending.shift();
        this.#pendingOffset = 0;
      }
    }
    this.counters.receivedBytes += writer.bytesWritten;
    return writer.bytesWritten;
  }

  #transmit(chain: DescriptorChain): number {
    return transmitChain(chain, this.#options.maxTransmitPerChain ?? 1 << 20, this.counters, this.#logger, (piece) => this.#emit(piece));
  }

  #emit(bytes: Uint8Array): void {
    this.#options.output(bytes);
  }

  #error(error: Error): void {
    this.counters.errors++;
    this.#logger.warn(`virtio-console: ${error.message}`);
  }
}
