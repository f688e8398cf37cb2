/**
 * The body of a virtio device worker thread. It builds the device from its
 * spec, opens guest RAM from the shared mapping, and then blocks in
 * epoll_wait on the queues' notify eventfds (which KVM signals through
 * ioeventfds, without the vCPU leaving the kernel) plus a control eventfd.
 * A kick runs the device's queue service; completions raise the queue's
 * MSI-X vector by writing its irqfd (EVENT_IDX / NO_INTERRUPT suppression
 * is the queue's, see SplitQueue.needsNotification).
 *
 * Control messages arrive on a MessagePort that the loop drains
 * synchronously (receiveMessageOnPort) when the control eventfd fires;
 * requests the main thread waits for are acknowledged through a shared
 * sequence number (Atomics.notify). The thread never returns to its event
 * loop until it stops.
 */
import { isMainThread, type MessagePort, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import * as sys from '../../../sys/libc.js';
import { GuestMemory, type SharedGuestMemory } from '../../../memory/guest-memory.js';
import { drainEventFd, writeEventFd } from '../../pci/eventfd.js';
import { buildQueues, type QueueSetup } from './backend.js';
import { type BuiltVirtioDevice, buildVirtioDevice, type VirtioDeviceSpec } from './device-spec.js';
import { type VirtioInterruptInit, VirtioInterruptSignaller } from './interrupts.js';

export const DEVICE_THREAD_KIND = 'tkvm-virtio-device';
/** Bytes of device configuration mirrored to the main thread. */
export const CONFIG_SNAPSHOT_BYTES = 256;
/** Counters the stats buffer holds. */
export const MAX_STATS = 32;

export interface DeviceThreadInit {
  kind: typeof DEVICE_THREAD_KIND;
  spec: VirtioDeviceSpec;
  memory: SharedGuestMemory;
  controlEventFd: number;
  /** Int32 [0]: last acknowledged request sequence number. */
  control: SharedArrayBuffer;
  /** Float64 counters, in the order of `counterNames` from 'ready'. */
  stats: SharedArrayBuffer;
  port: MessagePort;
}

/** Main thread → worker (on the port). */
export type DeviceThreadRequest =
  | { type: 'queues'; eventFds: number[] }
  | { type: 'activate'; seq: number; epoch: number; features: string; queues: Array<QueueSetup | null>; interrupts: VirtioInterruptInit }
  | { type: 'reset'; seq: number }
  | { type: 'config-write'; offset: number; bytes: Uint8Array }
  | { type: 'input'; bytes: Uint8Array }
  | { type: 'resize'; cols: number; rows: number }
  | { type: 'stop'; seq: number };

/** Worker → main thread (on parentPort). */
export type DeviceThreadEvent =
  | { type: 'ready'; deviceId: number; queueMaxSizes: number[]; features: string; config: Uint8Array; counterNames: string[] }
  | { type: 'failed'; code: string; message: string }
  | { type: 'needs-reset'; epoch: number; reason: string }
  | { type: 'intx'; epoch: number }
  | { type: 'config'; bytes: Uint8Array; changed: boolean }
  | { type: 'output'; bytes: Uint8Array }
  | { type: 'log'; message: string };

const CONTROL_TOKEN = 0xffff;
const MAX_EVENTS = 16;
/** The shared counters are refreshed at most this often (ms), and at the latest this long after they changed. */
const STATS_INTERVAL_MS = 5;

function post(event: DeviceThreadEvent): void {
  parentPort!.postMessage(event);
}

export class DeviceThreadLoop {
  readonly #init: DeviceThreadInit;
  readonly #built: BuiltVirtioDevice;
  readonly #memory: GuestMemory;
  readonly #control: Int32Array;
  readonly #stats: Float64Array;
  readonly #counterNames: string[];
  readonly #epfd: number;
  readonly #pending = new Set<number>();
  readonly #serving: number[] = [];
  #queueFds: number[] = [];
  #signaller: VirtioInterruptSignaller | null = null;
  #epoch = 0;
  #reportedReset = false;
  #stopSeq: number | null = null;
  #kicks = 0;
  #statsAt = 0;
  #statsStale = true;

  constructor(init: DeviceThreadInit) {
    this.#init = init;
    this.#control = new Int32Array(init.control);
    this.#stats = new Float64Array(init.stats);
    this.#built = buildVirtioDevice(init.spec, {
      logger: { warn: (message) => post({ type: 'log', message }) },
      output: (bytes) => post({ type: 'output', bytes }),
    });
    this.#memory = GuestMemory.fromShared(init.memory);
    this.#counterNames = ['kicks', ...Object.keys(this.#built.counters())].slice(0, MAX_STATS);
    this.#epfd = sys.epollCreate();
    sys.epollCtl(this.#epfd, sys.EPOLL_CTL_ADD, init.controlEventFd, sys.EPOLLIN, CONTROL_TOKEN);
  }

  ready(): DeviceThreadEvent {
    const { device } = this.#built;
    return {
      type: 'ready', deviceId: device.deviceId, queueMaxSizes: [...device.queueMaxSizes],
      features: device.features.toString(16), config: this.#configSnapshot(), counterNames: this.#counterNames,
    };
  }

  run(): void {
    const events = new Uint8Array(MAX_EVENTS * sys.EPOLL_EVENT_SIZE);
    const view = new DataView(events.buffer);
    while (this.#stopSeq === null) {
      const busy = this.#pending.size > 0;
      const n = sys.epollWait(this.#epfd, events, busy ? 0 : this.#sleepTimeoutMs());
      for (let i = 0; i < n; i++) {
        // epoll_data.u64 holds a small token: its low half is enough.
        const token = view.getUint32(i * sys.EPOLL_EVENT_SIZE + 4, true);
        if (token === CONTROL_TOKEN) {
          drainEventFd(this.#init.controlEventFd);
          this.#drainRequests();
        } else if (token < this.#queueFds.length) {
          drainEventFd(this.#queueFds[token]!);
          this.#kicks++;
          this.#statsStale = true;
          if (this.#signaller) this.#pending.add(token);
        }
      }
      this.#serve();
    }
    this.#shutdown();
  }

  #serve(): void {
    const signaller = this.#signaller;
    if (!signaller || this.#pending.size === 0) return;
    const { device } = this.#built;
    // A snapshot: a queue with work left is added back for the next round, not served twice now.
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
    if (performance.now() - this.#statsAt >= STATS_INTERVAL_MS) this.#updateStats();
  }

  /**
   * How long epoll_wait may sleep: forever once the shared counters are up
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
      this.#handle(m.message as DeviceThreadRequest);
    }
  }

  #handle(req: DeviceThreadRequest): void {
    const { device, console } = this.#built;
    switch (req.type) {
      case 'queues':
        for (const fd of this.#queueFds) sys.epollCtl(this.#epfd, sys.EPOLL_CTL_DEL, fd, 0, 0);
        this.#queueFds = req.eventFds;
        this.#queueFds.forEach((fd, q) => sys.epollCtl(this.#epfd, sys.EPOLL_CTL_ADD, fd, sys.EPOLLIN, q));
        return;
      case 'activate': {
        this.#epoch = req.epoch;
        this.#reportedReset = false;
        const features = BigInt(`0x${req.features}`);
        const epoch = req.epoch;
        const queues = buildQueues(this.#memory, { features, queues: req.queues, interrupts: req.interrupts }, (reason) => this.#needsReset(reason));
        this.#signaller = new VirtioInterruptSignaller(req.interrupts, writeEventFd, () => post({ type: 'intx', epoch }));
        device.activate(features, queues);
        // Serve whatever the driver queued before (or kicked while) we were not active.
        queues.forEach((q, i) => { if (q) this.#pending.add(i); });
        this.#ack(req.seq);
        return;
      }
      case 'reset':
        device.reset();
        this.#signaller = null;
        this.#pending.clear();
        this.#ack(req.seq);
        return;
      case 'config-write':
        device.writeConfig(req.offset, req.bytes);
        post({ type: 'config', bytes: this.#configSnapshot(), changed: false });
        return;
      case 'input':
        if (console) {
          console.queueInput(req.bytes);
          if (this.#signaller) this.#pending.add(0);
        }
        return;
      case 'resize':
        if (console) {
          const notify = console.resize(req.cols, req.rows);
          post({ type: 'config', bytes: this.#configSnapshot(), changed: notify });
        }
        return;
      case 'stop':
        this.#stopSeq = req.seq;
        return;
    }
  }

  #configSnapshot(): Uint8Array {
    const bytes = new Uint8Array(CONFIG_SNAPSHOT_BYTES);
    this.#built.device.readConfig(0, bytes);
    return bytes;
  }

  #updateStats(): void {
    this.#statsAt = performance.now();
    this.#statsStale = false;
    const all = { kicks: this.#kicks, ...this.#built.counters() } as Record<string, number>;
    this.#counterNames.forEach((name, i) => { this.#stats[i] = all[name] ?? 0; });
  }

  #ack(seq: number): void {
    Atomics.store(this.#control, 0, seq);
    Atomics.notify(this.#control, 0);
  }

  #shutdown(): void {
    this.#updateStats();
    this.#built.device.reset();
    this.#built.close();
    sys.close(this.#epfd);
    this.#init.port.close();
    this.#ack(this.#stopSeq!);
  }
}

function main(init: DeviceThreadInit): void {
  let loop: DeviceThreadLoop;
  try {
    loop = new DeviceThreadLoop(init);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    post({ type: 'failed', code: typeof e.code === 'string' ? e.code : 'ERR_VIRTIO_DEVICE', message: e.message ?? String(err) });
    init.port.close();
    return;
  }
  post(loop.ready());
  loop.run();
}

if (!isMainThread && (workerData as DeviceThreadInit | undefined)?.kind === DEVICE_THREAD_KIND) main(workerData as DeviceThreadInit);
