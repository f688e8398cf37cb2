/**
 * What the virtio-pci transport needs from the device behind it, whether
 * the device runs in the same thread (LocalVirtioBackend: unit tests,
 * benchmarks) or in a worker (ThreadedVirtioBackend in device-worker.ts).
 * The transport owns feature negotiation, status and queue registers; the
 * backend owns the queues once the driver sets DRIVER_OK.
 */
import type { GuestMemory } from '../../../memory/guest-memory.js';
import { writeEventFd } from '../../pci/eventfd.js';
import type { EventFdWriter } from '../../pci/msix-state.js';
import type { VirtioDevice } from '../device.js';
import { SplitQueue, type SplitQueueState } from '../queue/split.js';
import { hasFeature, VirtioFeature } from '../types.js';
import { type VirtioInterruptInit, VirtioInterruptSignaller } from './interrupts.js';

/** One queue as the driver configured it (§4.1.4.3). */
export interface QueueSetup {
  size: number;
  descTable: number;
  availRing: number;
  usedRing: number;
}

export interface VirtioActivation {
  /** The features the driver accepted (FEATURES_OK). */
  features: bigint;
  /** Per queue index: its setup if the driver enabled it, else null. */
  queues: Array<QueueSetup | null>;
  interrupts: VirtioInterruptInit;
  /** Restore from a snapshot: where each enabled queue's rings stood (absent: all at 0). */
  queueStates?: Array<SplitQueueState | null>;
}

/** Events a backend reports to its transport (any time after activation). */
export interface VirtioBackendEvents {
  /** A fatal queue or device error: the transport sets DEVICE_NEEDS_RESET (§2.1.2). */
  needsReset(reason: string): void;
  /** The device asks for INTx (MSI-X disabled); the ISR bit is set already. */
  requestIntx(): void;
  /** Device configuration changed (config_generation moves, config interrupt sent). */
  configChanged(): void;
}

export interface VirtioPciBackend {
  readonly deviceId: number;
  readonly queueMaxSizes: readonly number[];
  readonly features: bigint;
  readConfig(offset: number, data: Uint8Array): void;
  writeConfig(offset: number, data: Uint8Array): void;
  /** DRIVER_OK: start serving the enabled queues. */
  activate(activation: VirtioActivation, events: VirtioBackendEvents): void;
  /** A queue notification that reached user space (no ioeventfd in place). */
  notify(queue: number): void;
  /** Driver reset: returns once no queue is touched any more. */
  reset(): void;
  /** Releases the device (files, threads). */
  close(): Promise<void>;
  /**
   * Snapshot: stops serving the queues and touching guest memory, and
   * reports where each queue's rings stand; `release` serves again.
   * Absent: the backend cannot be snapshotted.
   */
  quiesce?(): Promise<Array<SplitQueueState | null>>;
  release?(): void;
}

/** The SplitQueue options a negotiated feature set implies. */
export function splitQueueFlags(features: bigint): { eventIdx: boolean; indirectDesc: boolean } {
  return { eventIdx: hasFeature(features, VirtioFeature.EVENT_IDX), indirectDesc: hasFeature(features, VirtioFeature.INDIRECT_DESC) };
}

/**
 * Builds the SplitQueues of an activation; a queue the driver configured
 * badly becomes null and is reported through `onError`.
 */
export function buildQueues(memory: GuestMemory, activation: VirtioActivation, onError: (message: string) => void): Array<SplitQueue | null> {
  const flags = splitQueueFlags(activation.features);
  return activation.queues.map((setup, index) => {
    if (!setup) return null;
    try {
      return new SplitQueue(memory, { ...setup, ...flags }, activation.queueStates?.[index] ?? undefined);
    } catch (err) {
      onError(`queue ${index}: ${(err as Error).message}`);
      return null;
    }
  });
}

/**
 * Runs a queue until it has no more work and raises its interrupt if
 * needed; returns whether the device needs a reset.
 */
export function runQueue(device: VirtioDevice, queue: number, signaller: VirtioInterruptSignaller): { needsReset: boolean } {
  let needsReset = false;
  let notify = false;
  for (let rounds = 0; rounds < 64; rounds++) {
    const r = device.queueNotified(queue);
    notify ||= r.notify;
    needsReset ||= r.needsReset;
    if (!r.more || r.needsReset) break;
  }
  if (notify) signaller.signalQueue(queue);
  return { needsReset };
}

/** A device served synchronously in the calling thread. */
export class LocalVirtioBackend implements VirtioPciBackend {
  readonly device: VirtioDevice;
  readonly #memory: GuestMemory;
  readonly #write: EventFdWriter;
  #signaller: VirtioInterruptSignaller | null = null;
  #events: VirtioBackendEvents | null = null;
  #queues: Array<SplitQueue | null> = [];

  constructor(device: VirtioDevice, memory: GuestMemory, options: { writeEventFd?: EventFdWriter } = {}) {
    this.device = device;
    this.#memory = memory;
    this.#write = options.writeEventFd ?? writeEventFd;
  }

  get deviceId(): number {
    return this.device.deviceId;
  }

  get queueMaxSizes(): readonly number[] {
    return this.device.queueMaxSizes;
  }

  get features(): bigint {
    return this.device.features;
  }

  /** The signaller of the active device (null before DRIVER_OK). */
  get signaller(): VirtioInterruptSignaller | null {
    return this.#signaller;
  }

  readConfig(offset: number, data: Uint8Array): void {
    this.device.readConfig(offset, data);
  }

  writeConfig(offset: number, data: Uint8Array): void {
    this.device.writeConfig(offset, data);
  }

  activate(activation: VirtioActivation, events: VirtioBackendEvents): void {
    this.#events = events;
    const queues = buildQueues(this.#memory, activation, (m) => events.needsReset(m));
    this.#queues = queues;
    this.#signaller = new VirtioInterruptSignaller(activation.interrupts, this.#write, () => events.requestIntx());
    this.device.activate(activation.features, queues);
    // Buffers made available before DRIVER_OK (or a kick that came early) are served now.
    queues.forEach((q, i) => { if (q) this.notify(i); });
  }

  notify(queue: number): void {
    if (!this.#signaller || queue < 0 || queue >= this.device.queueMaxSizes.length) return;
    if (runQueue(this.device, queue, this.#signaller).needsReset) this.#events?.needsReset(`queue ${queue} is broken`);
  }

  reset(): void {
    this.device.reset();
    this.#signaller = null;
    this.#events = null;
    this.#queues = [];
  }

  /** Served synchronously, so nothing is in flight: the positions are the queues' own. */
  async quiesce(): Promise<Array<SplitQueueState | null>> {
    return this.#queues.map((q) => q?.state ?? null);
  }

  release(): void {}

  async close(): Promise<void> {
    this.reset();
  }
}
