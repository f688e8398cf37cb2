/** virtio-rng's registration (registry.ts). */
import { registerVirtioDevice } from '../registry.js';
import { VirtioRng } from './device.js';

export interface RngSpec {
  type: 'rng';
  queueSize?: number;
}

declare module '../registry.js' {
  interface VirtioDeviceSpecs { rng: RngSpec }
}

registerVirtioDevice('rng', {
  build(spec, hooks) {
    const rng = new VirtioRng({ logger: hooks.logger, ...(spec.queueSize !== undefined ? { queueSize: spec.queueSize } : {}) });
    return { device: rng, config: null, console: null, close: () => {}, counters: () => ({ ...rng.counters }) };
  },
});
