/** virtio-blk's registration (registry.ts): a disk the VMM opens, served by VirtioBlk. */
import type { DiskBackend } from '../../disk.js';
import { HostResource, openHostResource, registerVirtioDevice } from '../registry.js';
import { VirtioBlk } from './device.js';
import { capacityPatch } from './config.js';

export interface BlkSpec {
  type: 'blk';
  /** Disk image or block device, opened by the host's DISK_BACKEND opener. */
  path: string;
  readOnly?: boolean;
  serial?: string;
  queueSize?: number;
}

/** A new file for a running virtio-blk device (Firecracker's PATCH /drives/{id}). */
export interface BlkUpdate {
  type: 'blk';
  path: string;
  /** The new GET_ID answer; absent: unchanged. */
  serial?: string;
}

declare module '../registry.js' {
  interface VirtioDeviceSpecs { blk: BlkSpec }
  interface VirtioDeviceUpdates { blk: BlkUpdate }
}

/**
 * The disk behind a virtio-blk device; vmm/virtio-host.ts opens it with
 * backends/disk. `replacing`: the disk it takes over from (the opener may
 * reuse its descriptor when the path names the same file).
 */
export const DISK_BACKEND = new HostResource<{ path: string; readOnly: boolean; replacing?: DiskBackend }, DiskBackend>('disk images');

registerVirtioDevice('blk', {
  name: (spec) => `virtio-blk (${spec.path})`,
  build(spec, hooks) {
    const readOnly = spec.readOnly ?? false;
    let disk = openHostResource(DISK_BACKEND, { path: spec.path, readOnly });
    try {
      const blk = new VirtioBlk({
        backend: disk, logger: hooks.logger,
        ...(spec.serial !== undefined ? { serial: spec.serial } : {}),
        ...(spec.queueSize !== undefined ? { queueSize: spec.queueSize } : {}),
      });
      return {
        device: blk, config: blk.configSpace, console: null, close: () => disk.close(),
        update(update) {
          const next = openHostResource(DISK_BACKEND, { path: update.path, readOnly, replacing: disk });
          let capacity: number;
          try {
            capacity = blk.replaceBackend(next, update.serial);
          } catch (err) {
            if (next !== disk) next.close();
            throw err;
          }
          // Closing a disk whose descriptor moved to `next` does nothing.
          if (next !== disk) disk.close();
          disk = next;
          return { writes: [capacityPatch(capacity)] };
        },
        counters: () => {
          const { byType, ...flat } = blk.counters;
          return { ...flat, ...Object.fromEntries(Object.entries(byType).map(([k, v]) => [`requests.${k}`, v])) };
        },
      };
    } catch (err) {
      disk.close();
      throw err;
    }
  },
});
