/**
 * Serializable descriptions of virtio devices, so a device worker can build
 * the device itself (device objects cannot cross threads), and the factory
 * that builds them.
 */
import { RawDisk } from '../../../backends/disk/raw.js';
import { VirtioBlk } from '../blk/device.js';
import { VirtioConsole } from '../console/device.js';
import type { ConfigSpace } from '../config-space.js';
import type { VirtioDevice } from '../device.js';
import type { DeviceLogger } from '../log.js';
import { VirtioRng } from '../rng/device.js';

export type VirtioDeviceSpec =
  | { type: 'blk'; path: string; readOnly?: boolean; serial?: string; queueSize?: number }
  | { type: 'rng'; queueSize?: number }
  | { type: 'console'; queueSize?: number; size?: { cols: number; rows: number } };

export interface BuiltVirtioDevice {
  device: VirtioDevice;
  /** Its configuration space, shared with the transport's thread; null for none. */
  config: ConfigSpace | null;
  /** Set for console devices: host input and resizes go here. */
  console: VirtioConsole | null;
  /** Flat numeric counters for stats. */
  counters(): Record<string, number>;
  close(): void;
}

export interface DeviceHooks {
  logger: DeviceLogger;
  /** Console output (guest → host). */
  output: (bytes: Uint8Array) => void;
  /** True while output must wait (flow control, see VirtioConsoleOptions.outputBlocked). */
  outputBlocked?: () => boolean;
}

/** A short name for logs and stats. */
export function specName(spec: VirtioDeviceSpec): string {
  return spec.type === 'blk' ? `virtio-blk (${spec.path})` : `virtio-${spec.type}`;
}

/** Builds the device a spec describes; throws TkvmError (e.g. ERR_DISK_OPEN) for unusable specs. */
export function buildVirtioDevice(spec: VirtioDeviceSpec, hooks: DeviceHooks): BuiltVirtioDevice {
  switch (spec.type) {
    case 'blk': {
      const disk = RawDisk.open(spec.path, { readOnly: spec.readOnly ?? false });
      try {
        const blk = new VirtioBlk({
          backend: disk, logger: hooks.logger,
          ...(spec.serial !== undefined ? { serial: spec.serial } : {}),
          ...(spec.queueSize !== undefined ? { queueSize: spec.queueSize } : {}),
        });
        return {
          device: blk, config: blk.configSpace, console: null, close: () => disk.close(),
          counters: () => {
            const { byType, ...flat } = blk.counters;
            return { ...flat, ...Object.fromEntries(Object.entries(byType).map(([k, v]) => [`requests.${k}`, v])) };
          },
        };
      } catch (err) {
        disk.close();
        throw err;
      }
    }
    case 'rng': {
      const rng = new VirtioRng({ logger: hooks.logger, ...(spec.queueSize !== undefined ? { queueSize: spec.queueSize } : {}) });
      return { device: rng, config: null, console: null, close: () => {}, counters: () => ({ ...rng.counters }) };
    }
    case 'console': {
      const console = new VirtioConsole({
        output: hooks.output, logger: hooks.logger,
        ...(hooks.outputBlocked ? { outputBlocked: hooks.outputBlocked } : {}),
        ...(spec.queueSize !== undefined ? { queueSize: spec.queueSize } : {}),
        ...(spec.size ? { size: spec.size } : {}),
      });
      return { device: console, config: console.configSpace, console, close: () => {}, counters: () => ({ ...console.counters }) };
    }
  }
}
