/**
 * What a virtio device offers a transport (PCI, MMIO): its identity,
 * features, configuration space and per-queue processing. The transport
 * owns feature negotiation, device status and the queues' registers, builds
 * a SplitQueue for each queue the driver enables, and calls
 * `queueNotified` when that queue is notified.
 */
import type { ConfigSpace } from './config-space.js';
import type { SplitQueue } from './queue/split.js';

export interface QueueProcessResult {
  /** Raise the queue's used-buffer notification (interrupt). */
  notify: boolean;
  /** The queue broke on a fatal guest fault: set DEVICE_NEEDS_RESET and send a config change notification. */
  needsReset: boolean;
  /** Work is left (budget exhausted): process the queue again soon. */
  more: boolean;
}

export interface VirtioDevice {
  /** Device ID (VirtioDeviceId). */
  readonly deviceId: number;
  /** Maximum size of each queue; its length is the number of queues. */
  readonly queueMaxSizes: readonly number[];
  /** Feature bits offered to the driver. */
  readonly features: bigint;
  /** The configuration space the transport may read directly, from any thread (absent: none). */
  readonly configSpace?: ConfigSpace;
  /** Reads device-specific configuration space. */
  readConfig(offset: number, data: Uint8Array): void;
  /** Writes device-specific configuration space (most fields are read-only). */
  writeConfig(offset: number, data: Uint8Array): void;
  /** The driver set DRIVER_OK with `features` acknowledged; queues are enabled. */
  activate(features: bigint, queues: ReadonlyArray<SplitQueue | null>): void;
  /** The driver notified queue `index` (or the transport polls it): process what is available. */
  queueNotified(index: number): QueueProcessResult;
  /** The driver reset the device: drop queues and in-flight state. */
  reset(): void;
}

/** The transport's view of one service pass over a queue. */
export function processResult(result: { notify: boolean; more: boolean; fatal: unknown }): QueueProcessResult {
  return { notify: result.notify, needsReset: result.fatal !== null, more: result.more };
}
