/**
 * Loaded into every virtio device thread before its device is built
 * (DeviceThreadInit.hostModules): provides the host backends that device
 * kinds open through registry.ts, so that devices/ never imports backends/.
 * A device kind with a new host resource gets its opener here.
 */
import { RawDisk } from '../backends/disk/raw.js';
import { HostTree } from '../backends/fs/tree.js';
import { PasstBackend } from '../backends/net/passt.js';
import { openTap } from '../backends/net/tap.js';
import { FsError } from '../devices/fs.js';
import { SHARED_TREE } from '../devices/virtio/9p/register.js';
import { DISK_BACKEND } from '../devices/virtio/blk/register.js';
import { NET_BACKEND } from '../devices/virtio/net/register.js';
import { provideHostResource } from '../devices/virtio/registry.js';
import { TkvmError } from '../util/errors.js';

provideHostResource(DISK_BACKEND, ({ path, readOnly, replacing }) => RawDisk.open(path, { readOnly, ...(replacing instanceof RawDisk ? { replacing } : {}) }));

provideHostResource(SHARED_TREE, ({ hostPath, readOnly }) => {
  try {
    return HostTree.open({ hostPath, readOnly });
  } catch (err) {
    if (err instanceof FsError) throw new TkvmError('ERR_SHARE_OPEN', `cannot share ${hostPath}: ${err.code}`);
    throw err;
  }
});

provideHostResource(NET_BACKEND, (request) => {
  if (request.kind === 'user') {
    return PasstBackend.open({ passt: request.passt, tcpForwards: request.tcpForwards, udpForwards: request.udpForwards, dns: request.dns });
  }
  return openTap(request);
});
