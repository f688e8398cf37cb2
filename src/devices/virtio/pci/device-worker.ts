/**
 * The main thread's handle on a virtio device worker (device-thread.ts):
 * a VirtioPciBackend whose queues are served in that worker. It creates
 * the control and per-queue notify eventfds (the VMM registers the latter
 * as ioeventfds through the transport), mirrors the device configuration
 * the worker reports, and turns the worker's events into transport calls.
 *
 * activate() and reset() wait (Atomics.wait, bounded) until the worker has
 * acknowledged them, so after the driver's status write returns the device
 * is running, or no longer touches guest memory.
 */
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import * as sys from '../../../sys/libc.js';
import type { SharedGuestMemory } from '../../../memory/guest-memory.js';
import { TkvmError } from '../../../util/errors.js';
import { createEventFd, writeEventFd } from '../../pci/eventfd.js';
import type { DeviceLogger } from '../log.js';
import { silentLogger } from '../log.js';
import type { VirtioActivation, VirtioBackendEvents, VirtioPciBackend } from './backend.js';
import { type DeviceThreadEvent, type DeviceThreadInit, type DeviceThreadRequest, DEVICE_THREAD_KIND, MAX_STATS } from './device-thread.js';
import { specName, type VirtioDeviceSpec } from './device-spec.js';

const THREAD_URL = new URL('./device-thread.js', import.meta.url);

export interface ThreadedBackendOptions {
  /** Console output from the guest (virtio-console). */
  onOutput?: (bytes: Uint8Array) => void;
  logger?: DeviceLogger;
  /** How long to wait for the worker to start, acknowledge or stop (default 5000 ms). */
  timeoutMs?: number;
}

export class ThreadedVirtioBackend implements VirtioPciBackend {
  readonly name: string;
  readonly deviceId: number;
  readonly queueMaxSizes: readonly number[];
  readonly features: bigint;
  /** The notify eventfds, one per queue: pass them to VirtioPciDevice as queueEventFds. */
  readonly queueEventFds: readonly number[];
  readonly counterNames: readonly string[];
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #controlEventFd: number;
  readonly #control: Int32Array;
  readonly #stats: Float64Array;
  readonly #options: ThreadedBackendOptions;
  readonly #logger: DeviceLogger;
  #config: Uint8Array;
  #seq = 0;
  #epoch = 0;
  #events: VirtioBackendEvents | null = null;
  #exited: Promise<void>;
  #closed = false;

  private constructor(
    name: string, worker: Worker, port: MessagePort, controlEventFd: number, control: SharedArrayBuffer, stats: SharedArrayBuffer,
    ready: Extract<DeviceThreadEvent, { type: 'ready' }>, options: ThreadedBackendOptions, exited: Promise<void>,
  ) {
    this.name = name;
    this.#worker = worker;
    this.#port = port;
    this.#controlEventFd = controlEventFd;
    this.#control = new Int32Array(control);
    this.#stats = new Float64Array(stats);
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#exited = exited;
    this.deviceId = ready.deviceId;
    this.queueMaxSizes = ready.queueMaxSizes;
    this.features = BigInt(`0x${ready.features}`);
    this.counterNames = ready.counterNames;
    this.#config = ready.config;
    this.queueEventFds = ready.queueMaxSizes.map(() => createEventFd());
    worker.on('message', (event: DeviceThreadEvent) => this.#onEvent(event));
    this.#request({ type: 'queues', eventFds: [...this.queueEventFds] });
  }

  /**
   * Starts a worker that builds the device described by `spec` on guest RAM
   * `memory`. Rejects with the worker's TkvmError (e.g. ERR_DISK_OPEN) if
   * the device cannot be built.
   */
  static async start(spec: VirtioDeviceSpec, memory: SharedGuestMemory, options: ThreadedBackendOptions = {}): Promise<ThreadedVirtioBackend> {
    const name = specName(spec);
    const controlEventFd = createEventFd();
    const control = new SharedArrayBuffer(4);
    const stats = new SharedArrayBuffer(8 * MAX_STATS);
    const { port1, port2 } = new MessageChannel();
    const init: DeviceThreadInit = { kind: DEVICE_THREAD_KIND, spec, memory, controlEventFd, control, stats, port: port2 };
    const worker = new Worker(THREAD_URL, { name, workerData: init, transferList: [port2], stdout: false, stderr: false });
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    try {
      const ready = await new Promise<Extract<DeviceThreadEvent, { type: 'ready' }>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new TkvmError('ERR_VIRTIO_WORKER', `${name}: device thread did not start`)), options.timeoutMs ?? 5000);
        const done = (): void => { clearTimeout(timer); worker.off('message', onMessage); worker.off('error', onError); };
        const onMessage = (event: DeviceThreadEvent): void => {
          if (event.type === 'ready') { done(); resolve(event); }
          else if (event.type === 'failed') { done(); reject(new TkvmError(event.code, event.message)); }
        };
        const onError = (err: Error): void => { done(); reject(new TkvmError('ERR_VIRTIO_WORKER', `${name}: device thread failed: ${err.message}`)); };
        worker.on('message', onMessage);
        worker.on('error', onError);
      });
      return new ThreadedVirtioBackend(name, worker, port1, controlEventFd, control, stats, ready, options, exited);
    } catch (err) {
      port1.close();
      await worker.terminate();
      sys.close(controlEventFd);
      throw err;
    }
  }

  readConfig(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) data[i] = this.#config[offset + i] ?? 0;
  }

  writeConfig(offset: number, data: Uint8Array): void {
    this.#request({ type: 'config-write', offset, bytes: data.slice() });
  }

  activate(activation: VirtioActivation, events: VirtioBackendEvents): void {
    this.#events = events;
    this.#epoch++;
    const seq = ++this.#seq;
    this.#request({
      type: 'activate', seq, epoch: this.#epoch, features: activation.features.toString(16),
      queues: activation.queues, interrupts: activation.interrupts,
    });
    this.#waitAck(seq, 'activate');
  }

  notify(queue: number): void {
    const fd = this.queueEventFds[queue];
    if (fd !== undefined) writeEventFd(fd);
  }

  reset(): void {
    this.#events = null;
    this.#epoch++;
    const seq = ++this.#seq;
    this.#request({ type: 'reset', seq });
    this.#waitAck(seq, 'reset');
  }

  /** Host input for a virtio-console device. */
  sendInput(bytes: Uint8Array): void {
    this.#request({ type: 'input', bytes: bytes.slice() });
  }

  /** Console size change (virtio-console with a size). */
  resize(cols: number, rows: number): void {
    this.#request({ type: 'resize', cols, rows });
  }

  /** The worker's counters (kicks and the device's own). */
  counters(): Record<string, number> {
    return Object.fromEntries(this.counterNames.map((name, i) => [name, this.#stats[i]!]));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#events = null;
    this.#request({ type: 'stop', seq: ++this.#seq });
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), this.#options.timeoutMs ?? 5000).unref());
    if ((await Promise.race([this.#exited, timeout])) === 'timeout') {
      this.#logger.warn(`${this.name}: device thread did not stop; terminating it`);
      await this.#worker.terminate();
    }
    this.#port.close();
    for (const fd of [...this.queueEventFds, this.#controlEventFd]) sys.close(fd);
  }

  #request(req: DeviceThreadRequest): void {
    this.#port.postMessage(req);
    writeEventFd(this.#controlEventFd);
  }

  #waitAck(seq: number, what: string): void {
    const deadline = Date.now() + (this.#options.timeoutMs ?? 5000);
    for (;;) {
      const acked = Atomics.load(this.#control, 0);
      if (acked >= seq) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        this.#logger.warn(`${this.name}: device thread did not acknowledge ${what}`);
        return;
      }
      Atomics.wait(this.#control, 0, acked, left);
    }
  }

  #onEvent(event: DeviceThreadEvent): void {
    switch (event.type) {
      case 'needs-reset':
        if (event.epoch === this.#epoch) this.#events?.needsReset(event.reason);
        return;
      case 'intx':
        if (event.epoch === this.#epoch) this.#events?.requestIntx();
        return;
      case 'config':
        this.#config = event.bytes;
        if (event.changed) this.#events?.configChanged();
        return;
      case 'output':
        this.#options.onOutput?.(event.bytes);
        return;
      case 'log':
        this.#logger.warn(event.message);
        return;
      default:
    }
  }
}
