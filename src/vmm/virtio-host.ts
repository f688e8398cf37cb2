/**
 * Loaded into every virtio device thread before its device is built
 * (DeviceThreadInit.hostModules): provides the host backends that device
 * kinds open through registry.ts, so that devices/ never imports backends/.
 * A device kind with a new host resource gets its opener here.
 */
import { RawDisk } from '../backends/disk/raw.js';
import { DISK_BACKEND } from '../devices/virtio/blk/register.js';
import { provideHostResource } from '../devices/virtio/registry.js';

provideHostResource(DISK_BACKEND, ({ path, readOnly }) => RawDisk.open(path, { readOnly }));
