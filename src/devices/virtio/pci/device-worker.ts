/**
 * The main thread's handle on a virtio device worker (device-thread.ts):
 * a VirtioPciBackend whose queues are served in that worker. It creates
 * the control and per-queue notify eventfds (the VMM registers the latter
 * as ioeventfds through the transport), reads the device's configuration
 * space straight from the SharedArrayBuffer the device writes, and turns
 * the worker's events into transport calls.
 *
 * activate(), reset() and config writes wait until the worker has
 * acknowledged them, with no timeout after which things carry on: after the
 * driver's write returns, the device is running, or no longer touches guest
 * memory, or has taken the config write. Only a dead worker ends the wait.
 *
 * Supervision: a worker that dies sets DEVICE_NEEDS_RESET on its device and
 * logs one line; the VM keeps running, and the device answers resets at
 * once from then on.
 */
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import * as sys from '../../../sys/libc.js';
import type { SharedGuestMemory } from '../../../memory/guest-memory.js';
import { TkvmError } from '../../../util/errors.js';
import { waitFor } from '../../../util/sync.js';
import { createEventFd, writeEventFd } from '../../pci/eventfd.js';
import type { DeviceLogger } from '../log.js';
import { silentLogger } from '../log.js';
import type { VirtioActivation, VirtioBackendEvents, VirtioPciBackend } from './backend.js';
import type { SplitQueueState } from '../queue/split.js';
import { acquireSleeperSlot, releaseSleeperSlot } from '../runtime/sleeper.js';
import { ConfigSpace } from '../config-space.js';
import {
  CONTROL_WORDS, ControlWord, type DeviceThreadEvent, type DeviceThreadInit, type DeviceThreadRequest, DEVICE_THREAD_KIND, MAX_STATS,
  OUTPUT_HIGH_WATER, INPUT_HIGH_WATER,
} from './device-thread.js';
import { specName, type VirtioDeviceSpec } from '../devices.js';
import type { ConfigPatch, VirtioDeviceUpdate } from '../registry.js';

const THREAD_URL = new URL('./device-thread.js', import.meta.url);

export interface ThreadedBackendOptions {
  /**
   * Console output from the guest (virtio-console). Call `sent` once the
   * bytes have left (written out): until then they count against the
   * device's flow-control window, and the guest waits when it is full.
   */
  onOutput?: (bytes: Uint8Array, sent: () => void, port: number) => void;
  /** A multiport console took host input: the unsent amount (inputUntaken) fell low, more may be sent. */
  onInputRoom?: () => void;
  logger?: DeviceLogger;
  /** How long to wait for the worker to start or stop (default 5000 ms). */
  timeoutMs?: number;
  /** Tests of supervision: make the worker fail on its first queue kick. */
  faultInjection?: DeviceThreadInit['faultInjection'];
  /** Modules the worker imports first, which provide host backends (DeviceThreadInit.hostModules). */
  hostModules?: string[];
}

/** While a reader drains output, the device is woken once the unsent bytes fall below this. */
const OUTPUT_LOW_WATER = OUTPUT_HIGH_WATER / 2;
/** A wait for the worker that lasts this long is reported (once); it goes on all the same. */
const SLOW_ACK_MS = 5000;

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
  readonly #config: ConfigSpace | null;
  readonly #wakeEventFd: number;
  #seq = 0;
  /** The main thread has seen the worker die and reported it (the shared DEAD word may be set by the worker first). */
  #deathReported = false;
  #epoch = 0;
  #events: VirtioBackendEvents | null = null;
  readonly #quiesceWaiters = new Map<number, { resolve: (queues: Array<SplitQueueState | null>) => void; reject: (err: Error) => void }>();
  readonly #updateWaiters = new Map<number, { resolve: (patch: ConfigPatch) => void; reject: (err: Error) => void }>();
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
    this.#config = ready.config ? ConfigSpace.over(ready.config, ready.configSize) : null;
    this.#wakeEventFd = ready.wakeEventFd;
    this.queueEventFds = ready.queueMaxSizes.map(() => createEventFd());
    worker.on('message', (event: DeviceThreadEvent) => this.#onEvent(event));
    worker.on('error', (err) => this.#died(`device thread failed: ${err.message}`));
    worker.on('exit', (code) => this.#died(`device thread exited (code ${code})`));
    this.#request({ type: 'queues', eventFds: [...this.queueEventFds] });
  }

  /**
   * Starts a worker that builds the device described by `spec` on guest RAM
   * `memory`. Rejects with the worker's TkvmError (e.g. ERR_DISK_OPEN) if
   * the device cannot be built.
   */
  static async start(spec: VirtioDeviceSpec, memory: SharedGuestMemory, options: ThreadedBackendOptions = {}): Promise<ThreadedVirtioBackend> {
    const name = specName(spec);
    const sleeper = await acquireSleeperSlot();
    const controlEventFd = createEventFd();
    const control = new SharedArrayBuffer(4 * CONTROL_WORDS);
    const stats = new SharedArrayBuffer(8 * MAX_STATS);
    const { port1, port2 } = new MessageChannel();
    const init: DeviceThreadInit = {
      kind: DEVICE_THREAD_KIND, spec, memory, controlEventFd, control, stats, port: port2, sleeper,
      ...(options.faultInjection ? { faultInjection: options.faultInjection } : {}),
      ...(options.hostModules ? { hostModules: options.hostModules } : {}),
    };
    const worker = new Worker(THREAD_URL, { name, workerData: init, transferList: [port2], stdout: false, stderr: false });
    // Its epoll set (in the sleeper's) closes with the thread: the slot is free from then on.
    const exited = new Promise<void>((resolve) => worker.once('exit', () => {
      releaseSleeperSlot(sleeper);
      resolve();
    }));
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
    if (this.#config) this.#config.read(offset, data);
    else data.fill(0);
  }

  /** Returns once the device has taken the write, so that a read after it sees its effect. */
  writeConfig(offset: number, data: Uint8Array): void {
    const seq = ++this.#seq;
    this.#request({ type: 'config-write', seq, offset, bytes: data.slice() });
    this.#waitAck(seq, 'a config write');
  }

  activate(activation: VirtioActivation, events: VirtioBackendEvents): void {
    this.#events = events;
    if (this.dead) {
      events.needsReset(`${this.name}: the device thread is gone`);
      return;
    }
    this.#epoch++;
    const seq = ++this.#seq;
    this.#request({
      type: 'activate', seq, epoch: this.#epoch, features: activation.features.toString(16),
      queues: activation.queues, interrupts: activation.interrupts,
      ...(activation.queueStates ? { queueStates: activation.queueStates } : {}),
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

  /** Snapshot: the worker stops serving, waits for its in-flight I/O, and reports the queues' positions. */
  quiesce(): Promise<Array<SplitQueueState | null>> {
    if (this.dead) return Promise.reject(new TkvmError('ERR_VIRTIO_WORKER', `${this.name}: the device thread is gone`));
    const seq = ++this.#seq;
    const answer = new Promise<Array<SplitQueueState | null>>((resolve, reject) => this.#quiesceWaiters.set(seq, { resolve, reject }));
    this.#request({ type: 'quiesce', seq });
    return answer;
  }

  /**
   * A host-side change to the running device (a disk's new file), applied in
   * its thread between queue services. Resolves with the config bytes it
   * changed, which the caller publishes with publishConfig; rejects with the
   * device's TkvmError (the device is then unchanged).
   */
  update(update: VirtioDeviceUpdate): Promise<ConfigPatch> {
    if (this.dead || this.#closed) return Promise.reject(new TkvmError('ERR_VIRTIO_WORKER', `${this.name}: the device thread is gone`));
    const seq = ++this.#seq;
    const answer = new Promise<ConfigPatch>((resolve, reject) => this.#updateWaiters.set(seq, { resolve, reject }));
    this.#request({ type: 'update', seq, update });
    return answer;
  }

  /**
   * Stores an update's config bytes in the shared configuration space. The
   * caller bumps config_generation in the same synchronous step (guest
   * accesses are served on this thread, so none falls in between).
   */
  publishConfig(patch: ConfigPatch): void {
    const config = this.#config;
    if (!config) return;
    for (const { offset, bytes } of patch.writes) {
      const target = config.clip(offset, bytes);
      if (target) config.bytes.set(target.data, target.offset);
    }
  }

  /** Serves again after quiesce(). */
  release(): void {
    this.#request({ type: 'release' });
  }

  /** Host input for a virtio-console device. */
  sendInput(bytes: Uint8Array): void {
    this.#request({ type: 'input', bytes: bytes.slice() });
  }

  /**
   * Host input for `port` of a multiport console; `end`: the input ends
   * after these bytes. The caller stops sending while inputBlocked, until
   * onInputRoom.
   */
  sendPortInput(port: number, bytes: Uint8Array, end = false): void {
    Atomics.add(this.#control, ControlWord.INPUT_UNTAKEN, bytes.length);
    this.#request({ type: 'port-input', port, bytes: bytes.slice(), end });
  }

  /** True while the guest has not taken INPUT_HIGH_WATER bytes or more of the port input sent. */
  get inputBlocked(): boolean {
    return Atomics.load(this.#control, ControlWord.INPUT_UNTAKEN) >= INPUT_HIGH_WATER;
  }

  /**
   * Resolves true once the device has handed over every transmit buffer the
   * guest queued (all its 'output' events have been delivered before), or
   * false after `timeoutMs` (a reader of the output that never reads, a
   * dead thread). Used at exit, when the vCPUs no longer run.
   */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.dead || this.#closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (drained: boolean): void => {
        clearTimeout(timer);
        this.#drainWaiters.delete(finish);
        resolve(drained);
      };
      this.#drainWaiters.add(finish);
      if (this.#drainWaiters.size === 1) this.#request({ type: 'drain' });
    });
  }

  readonly #drainWaiters = new Set<(drained: boolean) => void>();

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
    for (const waiter of this.#updateWaiters.values()) waiter.reject(new TkvmError('ERR_VIRTIO_WORKER', `${this.name}: the device is closing`));
    this.#updateWaiters.clear();
    this.#request({ type: 'stop', seq: ++this.#seq });
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), this.#options.timeoutMs ?? 5000).unref());
    if ((await Promise.race([this.#exited, timeout])) === 'timeout') {
      this.#logger.warn(`${this.name}: device thread did not stop; terminating it`);
      await this.#worker.terminate();
    }
    this.#port.close();
    for (const fd of [...this.queueEventFds, this.#controlEventFd]) sys.close(fd);
  }

  /** Whether the device thread has died (the device then needs a reset that nothing can serve). */
  get dead(): boolean {
    return this.#deathReported || Atomics.load(this.#control, ControlWord.DEAD) !== 0;
  }

  #request(req: DeviceThreadRequest): void {
    if (this.dead) return;
    this.#port.postMessage(req);
    writeEventFd(this.#controlEventFd);
  }

  /**
   * Waits until the worker acknowledged request `seq`, however long that
   * takes: the device may be finishing I/O into guest memory. Only the
   * worker's death ends the wait early; a slow one is reported once.
   */
  #waitAck(seq: number, what: string): void {
    const started = Date.now();
    let reported = false;
    for (;;) {
      const acked = Atomics.load(this.#control, ControlWord.ACK);
      if (acked >= seq || this.dead) return;
      if (!reported && Date.now() - started >= SLOW_ACK_MS) {
        reported = true;
        this.#logger.warn(`${this.name}: still waiting for the device thread to finish ${what}`);
      }
      waitFor(this.#control, ControlWord.ACK, acked, 1000, `${this.name}: ${what}`);
    }
  }

  #died(why: string): void {
    if (this.#closed || this.#deathReported) return;
    this.#deathReported = true;
    Atomics.store(this.#control, ControlWord.DEAD, 1);
    this.#logger.warn(`${this.name}: ${why}; the device needs a reset`);
    this.#events?.needsReset(why);
    for (const finish of [...this.#drainWaiters]) finish(false);
    for (const waiter of [...this.#quiesceWaiters.values(), ...this.#updateWaiters.values()]) waiter.reject(new TkvmError('ERR_VIRTIO_WORKER', `${this.name}: ${why}`));
    this.#quiesceWaiters.clear();
    this.#updateWaiters.clear();
  }

  /** Output bytes have left: return them to the device's flow-control window. */
  #outputSent(n: number): void {
    const before = Atomics.sub(this.#control, ControlWord.OUTPUT_UNSENT, n);
    const after = before - n;
    if (before >= OUTPUT_LOW_WATER && after < OUTPUT_LOW_WATER && !this.#closed && !this.dead) writeEventFd(this.#wakeEventFd);
  }

  #onEvent(event: DeviceThreadEvent): void {
    switch (event.type) {
      case 'needs-reset':
        if (event.epoch === this.#epoch) this.#events?.needsReset(event.reason);
        return;
      case 'intx':
        if (event.epoch === this.#epoch) this.#events?.requestIntx();
        return;
      case 'config-changed':
        this.#events?.configChanged();
        return;
      case 'output': {
        const n = event.bytes.length;
        let sent = false;
        const done = (): void => {
          if (sent) return;
          sent = true;
          this.#outputSent(n);
        };
        if (this.#options.onOutput) this.#options.onOutput(event.bytes, done, event.port ?? 0);
        else done();
        return;
      }
      case 'input-room':
        this.#options.onInputRoom?.();
        return;
      case 'drained':
        for (const finish of [...this.#drainWaiters]) finish(true);
        return;
      case 'log':
        this.#logger.warn(event.message);
        return;
      case 'updated': {
        const waiter = this.#updateWaiters.get(event.seq);
        this.#updateWaiters.delete(event.seq);
        if (!waiter) return;
        if (event.patch) waiter.resolve(event.patch);
        else waiter.reject(new TkvmError(event.error?.code ?? 'ERR_VIRTIO_UPDATE', event.error?.message ?? `${this.name}: the update failed`));
        return;
      }
      case 'quiesced': {
        const waiter = this.#quiesceWaiters.get(event.seq);
        this.#quiesceWaiters.delete(event.seq);
        waiter?.resolve(event.queues);
        return;
      }
      default:
    }
  }
}
