/**
 * The body of a virtio device worker thread. It builds the device from its
 * spec, opens guest RAM from the shared mapping, and serves it on a
 * DeviceEventLoop (../runtime/event-loop.ts): the queues' notify eventfds
 * (which KVM signals through ioeventfds, without the vCPU leaving the
 * kernel), a control eventfd, and whatever sources the device registers
 * through its DeviceRuntime (fds, timers, wake-ups). Between rounds the
 * thread returns to its Node event loop, so promise code works in devices.
 *
 * Completions raise the queue's MSI-X vector by writing its irqfd
 * (EVENT_IDX / NO_INTERRUPT suppression is the queue's, see
 * SplitQueue.needsNotification); a device may also complete chains later
 * and out of order (DeviceRuntime.complete).
 *
 * Control messages arrive on a MessagePort that the loop drains
 * (receiveMessageOnPort) when the control eventfd fires; requests the main
 * thread waits for are acknowledged through a shared sequence number. A
 * reset is acknowledged only once no tracked operation touches guest memory.
 *
 * Supervision: an exception from the device (a handler, a queue service, a
 * promise) marks the device failed: it sets DEVICE_NEEDS_RESET through the
 * main thread, logs once, and serves no queue until the driver resets it.
 * The thread itself goes on, and marks itself dead in the shared control
 * words if it ever exits, so that nobody waits for it forever.
 */
import { isMainThread, type MessagePort, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import * as sys from '../../../sys/libc.js';
import { GuestMemory, type SharedGuestMemory } from '../../../memory/guest-memory.js';
import { publish, wake } from '../../../util/sync.js';
import { drainEventFd, writeEventFd } from '../../pci/eventfd.js';
import type { SplitQueue, SplitQueueState } from '../queue/split.js';
import { type DeviceRuntime, isRuntimeAware } from '../runtime/device-runtime.js';
import { SleeperClient, type SleeperSlot } from '../runtime/sleeper.js';
import { DeviceEventLoop } from '../runtime/event-loop.js';
import { buildQueues, type QueueSetup } from './backend.js';
import '../devices.js'; // registers every device kind in this thread
import { type BuiltVirtioDevice, buildVirtioDevice, type ConfigPatch, specName, type VirtioDeviceSpec, type VirtioDeviceUpdate } from '../registry.js';
import { type VirtioInterruptInit, VirtioInterruptSignaller } from './interrupts.js';

export const DEVICE_THREAD_KIND = 'tkvm-virtio-device';
/** Counters the stats buffer holds. */
export const MAX_STATS = 32;

/** Int32 words of the shared control buffer. */
export const ControlWord = {
  /** Last acknowledged request sequence number. */
  ACK: 0,
  /** 1 once the thread has exited (or is exiting): nobody may wait for it. */
  DEAD: 1,
  /** Guest output bytes handed to the main thread and not yet written out (flow control). */
  OUTPUT_UNSENT: 2,
  /** Host input bytes sent to a multiport console and not yet taken by the guest (input flow control). */
  INPUT_UNTAKEN: 3,
} as const;
export const CONTROL_WORDS = 4;

export interface DeviceThreadInit {
  kind: typeof DEVICE_THREAD_KIND;
  spec: VirtioDeviceSpec;
  memory: SharedGuestMemory;
  controlEventFd: number;
  /** Int32 words, see ControlWord. */
  control: SharedArrayBuffer;
  /** Float64 counters, in the order of `counterNames` from 'ready'. */
  stats: SharedArrayBuffer;
  port: MessagePort;
  /** Where this thread sleeps when idle (runtime/sleeper.ts). */
  sleeper: SleeperSlot;
  /** Supervision tests: on the first queue kick, throw from the device's service, or end the thread. */
  faultInjection?: 'throw' | 'exit';
  /**
   * Modules (URLs) imported before the device is built: they provide the
   * host backends device kinds open (registry.ts provideHostResource), from
   * a layer above devices/ (vmm/virtio-host.ts).
   */
  hostModules?: string[];
}

/** Main thread → worker (on the port). */
export type DeviceThreadRequest =
  | { type: 'queues'; eventFds: number[] }
  | {
    type: 'activate'; seq: number; epoch: number; features: string; queues: Array<QueueSetup | null>; interrupts: VirtioInterruptInit;
    /** Restore: where each queue's rings stood (absent: a fresh activation, all at 0). */
    queueStates?: Array<SplitQueueState | null>;
  }
  | { type: 'reset'; seq: number }
  | { type: 'config-write'; seq: number; offset: number; bytes: Uint8Array }
  | { type: 'input'; bytes: Uint8Array }
  /** Host input for one port of a multiport console; `end`: the input ended after these bytes. */
  | { type: 'port-input'; port: number; bytes: Uint8Array; end: boolean }
  /** Serve the transmit queues until none holds a buffer, then answer 'drained' (after the output events). */
  | { type: 'drain' }
  | { type: 'resize'; cols: number; rows: number }
  | { type: 'stop'; seq: number }
  /** Snapshot: stop touching guest memory and the queues, then report the queues' positions ('quiesced'). */
  | { type: 'quiesce'; seq: number }
  /** After a snapshot: serve again what waited. */
  | { type: 'release' }
  /** A host-side change to the running device (BuiltVirtioDevice.update); answered with 'updated'. */
  | { type: 'update'; seq: number; update: VirtioDeviceUpdate };

/** Worker → main thread (on parentPort). */
export type DeviceThreadEvent =
  | {
    type: 'ready'; deviceId: number; queueMaxSizes: number[]; features: string; counterNames: string[];
    /** The device's configuration space itself (shared, never a copy), or null for none. */
    config: SharedArrayBuffer | null; configSize: number; wakeEventFd: number;
  }
  | { type: 'failed'; code: string; message: string }
  | { type: 'needs-reset'; epoch: number; reason: string }
  | { type: 'intx'; epoch: number }
  | { type: 'config-changed' }
  | { type: 'output'; bytes: Uint8Array; port?: number }
  /** The guest took host input: INPUT_UNTAKEN fell below INPUT_LOW_WATER. */
  | { type: 'input-room' }
  | { type: 'drained' }
  | { type: 'log'; message: string }
  | { type: 'quiesced'; seq: number; queues: Array<SplitQueueState | null> }
  /** The answer to 'update': the config bytes to publish, or why it failed (the device is unchanged). */
  | { type: 'updated'; seq: number; patch: ConfigPatch | null; error: { code: string; message: string } | null };

/** The shared counters are refreshed at most this often (ms), and at the latest this long after they changed. */
const STATS_INTERVAL_MS = 5;
/**
 * Guest output the main thread may hold unsent before the console stops
 * taking transmit buffers (the guest then waits for its ring): flow
 * control, so that a slow or stopped reader of stdout bounds memory.
 */
export const OUTPUT_HIGH_WATER = 256 * 1024;
/** Host input the main thread may have sent that the guest has not taken before it stops reading its source. */
export const INPUT_HIGH_WATER = 256 * 1024;
export const INPUT_LOW_WATER = INPUT_HIGH_WATER / 4;

function post(event: DeviceThreadEvent): void {
  parentPort!.postMessage(event);
}

export class DeviceThreadLoop implements DeviceRuntime {
  readonly #init: DeviceThreadInit;
  readonly #built: BuiltVirtioDevice;
  #released = false;
  readonly #memory: GuestMemory;
  readonly #control: Int32Array;
  readonly #stats: Float64Array;
  readonly #counterNames: string[];
  readonly #loop: DeviceEventLoop;
  readonly #pending = new Set<number>();
  readonly #serving: number[] = [];
  /** Queues with used entries pushed outside a service call (DeviceRuntime.complete). */
  readonly #completed = new Set<number>();
  #queueSources: number[] = [];
  #queueFds: number[] = [];
  #queues: ReadonlyArray<SplitQueue | null> = [];
  #signaller: VirtioInterruptSignaller | null = null;
  #epoch = 0;
  #reportedReset = false;
  /** The device threw: it serves no queue until the driver resets it. */
  #failed = false;
  #stopSeq: number | null = null;
  #kicks = 0;
  #failures = 0;
  #statsAt = 0;
  #statsStale = true;
  #inRound = false;
  #flushScheduled = false;
  /**
   * Quiesced for a snapshot: no queue is served and no device fd, timer or
   * wake-up is dispatched (those are kept for release); completions of
   * operations already in flight still land.
   */
  #held = false;
  /** Device fds that became ready while held: their events, restored on release. */
  readonly #heldFds = new Map<number, number>();
  readonly #heldTimers = new Set<() => void>();
  #heldWake = false;
  /** A 'drain' request waits for the transmit queues to empty. */
  #draining = false;

  constructor(init: DeviceThreadInit) {
    this.#init = init;
    this.#control = new Int32Array(init.control);
    this.#stats = new Float64Array(init.stats);
    this.#built = buildVirtioDevice(init.spec, {
      logger: { warn: (message) => post({ type: 'log', message }) },
      output: (bytes) => {
        Atomics.add(this.#control, ControlWord.OUTPUT_UNSENT, bytes.length);
        post({ type: 'output', bytes });
      },
      portOutput: (port, bytes) => {
        Atomics.add(this.#control, ControlWord.OUTPUT_UNSENT, bytes.length);
        post({ type: 'output', bytes, port });
      },
      inputTaken: (n) => {
        const before = Atomics.sub(this.#control, ControlWord.INPUT_UNTAKEN, n);
        if (before >= INPUT_LOW_WATER && before - n < INPUT_LOW_WATER) post({ type: 'input-room' });
      },
      outputBlocked: () => Atomics.load(this.#control, ControlWord.OUTPUT_UNSENT) >= OUTPUT_HIGH_WATER,
      configChanged: () => post({ type: 'config-changed' }),
    });
    this.#memory = GuestMemory.fromShared(init.memory);
    this.#counterNames = ['kicks', 'failures', ...Object.keys(this.#built.counters())].slice(0, MAX_STATS);
    this.#loop = new DeviceEventLoop({
      round: () => this.#serve(),
      sleepTimeoutMs: () => this.#sleepTimeoutMs(),
      onError: (error, where) => this.deviceFailed(error, where),
    }, () => this.#wakeDevice(), new SleeperClient(init.sleeper));
    this.#loop.addFd(init.controlEventFd, sys.EPOLLIN, () => {
      drainEventFd(init.controlEventFd);
      this.#drainRequests();
    }, 'control');
    const { device } = this.#built;
    if (isRuntimeAware(device)) device.attachRuntime(this);
  }

  ready(): DeviceThreadEvent {
    const { device, config } = this.#built;
    return {
      type: 'ready', deviceId: device.deviceId, queueMaxSizes: [...device.queueMaxSizes],
      features: device.features.toString(16), counterNames: this.#counterNames,
      config: config?.buffer ?? null, configSize: config?.size ?? 0, wakeEventFd: this.#loop.wakeEventFd,
    };
  }

  async run(): Promise<void> {
    await this.#loop.run();
    this.#shutdown();
  }

  // --- DeviceRuntime ---

  get wakeEventFd(): number {
    return this.#loop.wakeEventFd;
  }

  get inFlight(): number {
    return this.#loop.inFlight;
  }

  addFd(fd: number, events: number, onReady: (ready: number) => void): number {
    const source: number = this.#loop.addFd(fd, events, (ready) => {
      if (!this.#held) {
        onReady(ready);
        return;
      }
      // Level-triggered: silence it until release, when it fires again if still ready.
      if (!this.#heldFds.has(source)) this.#heldFds.set(source, events);
      this.#loop.setFdEvents(source, 0);
    }, `device fd ${fd}`);
    return source;
  }

  setFdEvents(source: number, events: number): void {
    if (this.#heldFds.has(source)) this.#heldFds.set(source, events);
    else this.#loop.setFdEvents(source, events);
  }

  removeFd(source: number): void {
    this.#heldFds.delete(source);
    this.#loop.removeFd(source);
  }

  addTimer(onFire: () => void): number {
    return this.#loop.addTimer(() => {
      if (this.#held) this.#heldTimers.add(onFire);
      else onFire();
    }, 'device timer');
  }

  armTimer(timer: number, delayMs: number, intervalMs = 0): void {
    this.#loop.armTimer(timer, delayMs, intervalMs);
  }

  removeTimer(timer: number): void {
    this.#loop.removeFd(timer);
  }

  kickQueue(index: number): void {
    if (this.#signaller && index >= 0 && index < this.#queues.length) this.#pending.add(index);
    this.#loop.wake();
  }

  wake(): void {
    this.#loop.wake();
  }

  complete(queue: SplitQueue, head: number, len: number): void {
    const index = this.#queues.indexOf(queue);
    if (index < 0 || !this.#signaller || this.#failed) return; // a queue of before the last reset
    queue.pushUsed(head, len);
    this.#completed.add(index);
    if (!this.#inRound && !this.#flushScheduled) {
      // From a promise callback: publish the interrupt once this burst of callbacks is done.
      this.#flushScheduled = true;
      queueMicrotask(() => {
        this.#flushScheduled = false;
        this.#flushCompletions();
      });
    }
  }

  track<T>(operation: Promise<T>): Promise<T> {
    return this.#loop.track(operation);
  }

  /** The device failed: DEVICE_NEEDS_RESET, one log line, and no more queue service until reset. */
  deviceFailed(error: Error, where: string): void {
    this.#failures++;
    this.#statsStale = true;
    if (this.#failed) return;
    this.#failed = true;
    this.#pending.clear();
    post({ type: 'log', message: `${specName(this.#init.spec)}: device failed in ${where}: ${error.message}; it needs a reset` });
    this.#needsReset(`device failed: ${error.message}`);
  }

  // --- rounds ---

  #serve(): boolean {
    this.#inRound = true;
    try {
      const signaller = this.#signaller;
      if (signaller && !this.#failed && !this.#held && this.#pending.size > 0) {
        const { device } = this.#built;
        // A snapshot: a queue with work left goes to the back, for the next round (round-robin budgets).
        const serving = this.#serving;
        serving.length = 0;
        for (const queue of this.#pending) serving.push(queue);
        this.#pending.clear();
        for (const queue of serving) {
          const r = device.queueNotified(queue);
          if (r.notify) signaller.signalQueue(queue);
          if (r.more) this.#pending.add(queue);
          if (r.needsReset) this.#needsReset(`queue ${queue} is broken`);
        }
        this.#statsStale = true;
      }
      this.#flushCompletions();
    } finally {
      this.#inRound = false;
    }
    if (this.#statsStale && performance.now() - this.#statsAt >= STATS_INTERVAL_MS) this.#updateStats();
    this.#answerDrain();
    return this.#pending.size > 0 && !this.#failed && !this.#held;
  }

  /** Answers a 'drain' once no transmit buffer waits (or nothing can be served: not active, failed). */
  #answerDrain(): void {
    if (!this.#draining) return;
    const ports = this.#built.ports;
    if (this.#signaller && !this.#failed && ports && !ports.transmitIdle()) return;
    this.#draining = false;
    post({ type: 'drained' });
  }

  #flushCompletions(): void {
    const signaller = this.#signaller;
    if (this.#completed.size === 0) return;
    for (const index of this.#completed) {
      const queue = this.#queues[index];
      if (signaller && queue?.needsNotification()) signaller.signalQueue(index);
    }
    this.#completed.clear();
    this.#statsStale = true;
  }

  #wakeDevice(): void {
    if (this.#held) {
      this.#heldWake = true;
      return;
    }
    const { device } = this.#built;
    if (!this.#failed && isRuntimeAware(device)) device.onWake?.();
  }

  /**
   * How long the loop may sleep: forever once the shared counters are up
   * to date, else until they are due (they are refreshed at most every
   * STATS_INTERVAL_MS, so a sleeping device leaves them at most that stale).
   */
  #sleepTimeoutMs(): number {
    if (!this.#statsStale) return -1;
    const due = this.#statsAt + STATS_INTERVAL_MS - performance.now();
    if (due <= 0) {
      this.#updateStats();
      return -1;
    }
    return Math.ceil(due);
  }

  #needsReset(reason: string): void {
    if (this.#reportedReset) return;
    this.#reportedReset = true;
    post({ type: 'needs-reset', epoch: this.#epoch, reason });
  }

  #drainRequests(): void {
    for (;;) {
      const m = receiveMessageOnPort(this.#init.port);
      if (!m) return;
      const req = m.message as DeviceThreadRequest;
      try {
        this.#handle(req);
      } catch (err) {
        this.deviceFailed(err instanceof Error ? err : new Error(String(err)), `${req.type} request`);
        // The main thread may be waiting for this request: it is answered, failed or not.
        if ('seq' in req && req.type !== 'stop') this.#ack(req.seq);
      }
    }
  }

  #handle(req: DeviceThreadRequest): void {
    const { device, console } = this.#built;
    switch (req.type) {
      case 'queues':
        for (const source of this.#queueSources) this.#loop.removeFd(source);
        this.#queueFds = req.eventFds;
        this.#queueSources = this.#queueFds.map((fd, q) => this.#loop.addFd(fd, sys.EPOLLIN, () => {
          drainEventFd(fd);
          this.#kicks++;
          this.#statsStale = true;
          if (this.#signaller) this.#pending.add(q);
          if (this.#init.faultInjection === 'exit') process.exit(3);
          if (this.#init.faultInjection === 'throw') throw new Error('injected fault');
        }, `queue ${q} notify`));
        return;
      case 'activate': {
        this.#epoch = req.epoch;
        this.#reportedReset = false;
        this.#failed = false;
        const features = BigInt(`0x${req.features}`);
        const epoch = req.epoch;
        const queues = buildQueues(this.#memory, {
          features, queues: req.queues, interrupts: req.interrupts, ...(req.queueStates ? { queueStates: req.queueStates } : {}),
        }, (reason) => this.#needsReset(reason));
        this.#signaller = new VirtioInterruptSignaller(req.interrupts, writeEventFd, () => post({ type: 'intx', epoch }));
        this.#queues = queues;
        this.#ack(req.seq); // acknowledged first: activation may fail, the main thread must not wait on it
        device.activate(features, queues);
        // Serve whatever the driver queued before (or kicked while) we were not active.
        queues.forEach((q, i) => { if (q) this.#pending.add(i); });
        return;
      }
      case 'reset':
        this.#signaller = null;
        this.#queues = [];
        this.#pending.clear();
        this.#completed.clear();
        try {
          device.reset();
        } finally {
          this.#failed = false;
          // §2.1.2: once reset returns, the device touches no queue. Operations still in flight may.
          const seq = req.seq;
          this.#loop.whenIdle(() => this.#ack(seq));
        }
        return;
      case 'config-write':
        device.writeConfig(req.offset, req.bytes);
        this.#ack(req.seq);
        return;
      case 'input':
        if (console) {
          console.queueInput(req.bytes);
          if (this.#signaller) this.#pending.add(0);
        }
        return;
      case 'port-input': {
        const ports = this.#built.ports;
        if (!ports) return;
        if (req.bytes.length > 0) ports.queueInput(req.port, req.bytes);
        if (req.end) ports.endInput(req.port);
        return;
      }
      case 'drain':
        this.#draining = true;
        // Served on the next round, whether or not a queue was kicked.
        this.#queues.forEach((q, i) => { if (q && this.#signaller) this.#pending.add(i); });
        this.#loop.wake();
        return;
      case 'resize':
        if (console && console.resize(req.cols, req.rows)) post({ type: 'config-changed' });
        return;
      case 'stop':
        this.#stopSeq = req.seq;
        this.#loop.stop();
        return;
      case 'quiesce': {
        this.#held = true;
        const seq = req.seq;
        // Operations in flight may still write guest memory and used rings: report once they are done.
        this.#loop.whenIdle(() => {
          this.#flushCompletions();
          post({ type: 'quiesced', seq, queues: this.#queues.map((q) => q?.state ?? null) });
          this.#ack(seq);
        });
        return;
      }
      case 'release':
        this.#release();
        return;
      case 'update':
        this.#update(req.seq, req.update);
        return;
    }
  }

  /** Requests run between rounds, so no queue service is under way while the device changes. */
  #update(seq: number, update: VirtioDeviceUpdate): void {
    const fail = (code: string, message: string): void => post({ type: 'updated', seq, patch: null, error: { code, message } });
    const apply = this.#built.update;
    if (!apply) fail('ERR_VIRTIO_UPDATE', `${specName(this.#init.spec)} takes no updates`);
    else if (this.#held) fail('ERR_VIRTIO_UPDATE', `${specName(this.#init.spec)} is held for a snapshot`);
    else {
      try {
        post({ type: 'updated', seq, patch: apply(update), error: null });
      } catch (err) {
        const e = err as { code?: unknown; message?: unknown };
        fail(typeof e.code === 'string' ? e.code : 'ERR_VIRTIO_UPDATE', typeof e.message === 'string' ? e.message : String(err));
      }
    }
    this.#ack(seq);
  }

  /** Ends a quiesce: fds and timers that fired meanwhile, and the wake-up, get their turn. */
  #release(): void {
    if (!this.#held) return;
    this.#held = false;
    for (const [source, events] of this.#heldFds) this.#loop.setFdEvents(source, events);
    this.#heldFds.clear();
    const timers = [...this.#heldTimers];
    this.#heldTimers.clear();
    for (const fire of timers) {
      try {
        fire();
      } catch (err) {
        this.deviceFailed(err instanceof Error ? err : new Error(String(err)), 'a device timer');
      }
    }
    if (this.#heldWake) {
      this.#heldWake = false;
      this.#loop.wake();
    }
    this.#loop.wake();
  }

  #updateStats(): void {
    this.#statsAt = performance.now();
    this.#statsStale = false;
    const all = { kicks: this.#kicks, failures: this.#failures, ...this.#built.counters() } as Record<string, number>;
    this.#counterNames.forEach((name, i) => { this.#stats[i] = all[name] ?? 0; });
  }

  #ack(seq: number): void {
    publish(this.#control, ControlWord.ACK, seq);
  }

  /**
   * Closes the device's host resources (files, sockets, helper processes
   * such as passt) once: on an orderly stop, and when the thread exits
   * any other way, so that a dead device thread leaves nothing running.
   */
  releaseHostResources(): void {
    if (this.#released) return;
    this.#released = true;
    this.#built.close();
  }

  #shutdown(): void {
    this.#updateStats();
    this.#loop.whenIdle(() => {
      try {
        this.#built.device.reset();
      } catch { /* failing on the way out: nothing to keep consistent */ }
      this.releaseHostResources();
      this.#loop.close();
      this.#init.port.close();
      this.#ack(this.#stopSeq!);
    });
  }
}

function markDead(init: DeviceThreadInit): void {
  const control = new Int32Array(init.control);
  Atomics.store(control, ControlWord.DEAD, 1);
  wake(control, ControlWord.ACK);
}

function main(init: DeviceThreadInit): void {
  // However this thread ends, nobody may go on waiting for an acknowledgement from it.
  process.on('exit', () => markDead(init));
  let loop: DeviceThreadLoop;
  try {
    loop = new DeviceThreadLoop(init);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    post({ type: 'failed', code: typeof e.code === 'string' ? e.code : 'ERR_VIRTIO_DEVICE', message: e.message ?? String(err) });
    init.port.close();
    return;
  }
  process.on('exit', () => {
    try {
      loop.releaseHostResources();
    } catch { /* exiting anyway */ }
  });
  // A device's promise code that throws fails the device, not the thread.
  process.on('uncaughtException', (err) => loop.deviceFailed(err, 'a callback'));
  process.on('unhandledRejection', (reason) => loop.deviceFailed(reason instanceof Error ? reason : new Error(String(reason)), 'a promise'));
  post(loop.ready());
  loop.run().catch((err: unknown) => {
    post({ type: 'log', message: `${specName(init.spec)}: device thread failed: ${(err as Error).message}` });
    markDead(init);
    process.exit(1);
  });
}

/** Loads the host modules, then builds and runs the device; a module that fails to load fails the start. */
async function start(init: DeviceThreadInit): Promise<void> {
  try {
    for (const url of init.hostModules ?? []) await import(url);
  } catch (err) {
    post({ type: 'failed', code: 'ERR_VIRTIO_WORKER', message: `${specName(init.spec)}: cannot load ${init.hostModules?.join(', ')}: ${(err as Error).message}` });
    init.port.close();
    return;
  }
  main(init);
}

if (!isMainThread && (workerData as DeviceThreadInit | undefined)?.kind === DEVICE_THREAD_KIND) void start(workerData as DeviceThreadInit);
