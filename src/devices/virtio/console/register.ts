/** virtio-console's registration (registry.ts): guest output goes to the thread's output hook, with its flow control. */
import { registerVirtioDevice } from '../registry.js';
import { VirtioConsole } from './device.js';

export interface ConsoleSpec {
  type: 'console';
  queueSize?: number;
  size?: { cols: number; rows: number };
}

declare module '../registry.js' {
  interface VirtioDeviceSpecs { console: ConsoleSpec }
}

registerVirtioDevice('console', {
  build(spec, hooks) {
    const console = new VirtioConsole({
      output: hooks.output, logger: hooks.logger,
      ...(hooks.outputBlocked ? { outputBlocked: hooks.outputBlocked } : {}),
      ...(spec.queueSize !== undefined ? { queueSize: spec.queueSize } : {}),
      ...(spec.size ? { size: spec.size } : {}),
    });
    return { device: console, config: console.configSpace, console, close: () => {}, counters: () => ({ ...console.counters }) };
  },
});
