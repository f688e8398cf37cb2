/** virtio-9p's registration (registry.ts): a host directory the VMM opens as a SharedTree, served by VirtioNineP. */
import type { SharedTree } from '../../fs.js';
import { HostResource, openHostResource, registerVirtioDevice } from '../registry.js';
import { VirtioNineP } from './device.js';

export interface NinePSpec {
  type: '9p';
  /** The exported host directory. */
  hostPath: string;
  /** The mount tag the guest sees. */
  tag: string;
  readOnly?: boolean;
  queueSize?: number;
}

declare module '../registry.js' {
  interface VirtioDeviceSpecs { '9p': NinePSpec }
}

/** The directory behind a virtio-9p device; vmm/virtio-host.ts opens it with backends/fs. */
export const SHARED_TREE = new HostResource<{ hostPath: string; readOnly: boolean }, SharedTree>('shared directories');

registerVirtioDevice('9p', {
  name: (spec) => `virtio-9p (${spec.tag}: ${spec.hostPath})`,
  build(spec, hooks) {
    const tree = openHostResource(SHARED_TREE, { hostPath: spec.hostPath, readOnly: spec.readOnly ?? false });
    try {
      const device = new VirtioNineP({ tree, mountTag: spec.tag, logger: hooks.logger, ...(spec.queueSize !== undefined ? { queueSize: spec.queueSize } : {}) });
      return {
        device, config: device.configSpace, console: null,
        close: () => void tree.dispose().catch(() => {}),
        counters: () => ({ ...device.counters }),
      };
    } catch (err) {
      void tree.dispose().catch(() => {});
      throw err;
    }
  },
});
