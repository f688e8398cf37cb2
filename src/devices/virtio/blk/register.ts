/** virtio-blk's registration (registry.ts): a disk the VMM opens, served by VirtioBlk. */
import type { DiskBackend } from '../../disk.js';
import { HostResource, openHostResource, registerVirtioDevice } from '../registry.js';
import { VirtioBlk } from './device.js';

export interface BlkSpec {
  type: 'blk';
  /** Disk image or block device, opened by the host's DISK_BACKEND opener. */
  path: string;
  readOnly?: boolean;
  serial?: string;
  queueSize?: number;
}

declare module '../registry.js' {
  interface VirtioDeviceSpecs { blk: BlkSpec }
}

/** The disk behind a virtio-blk device; vmm/virtio-host.ts opens it with backends/disk. */
export const DISK_BACKEND = new HostResource<{ path: string; readOnly: boolean }, DiskBackend>('disk images');

registerVirtioDevice('blk', {
  name: (spec) => `virtio-blk (${spec.path})`,
  build(spec, hooks) {
    const disk = openHostResource(DISK_BACKEND, { path: spec.path, readOnly: spec.readOnly ?? false });
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
  },
});
