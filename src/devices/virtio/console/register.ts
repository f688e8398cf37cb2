/**
 * virtio-console's registrations (registry.ts): the single-port console,
 * whose guest output goes to the thread's output hook with its flow
 * control, and the multiport console with named generic ports (ports.ts),
 * whose output and input travel per port.
 */
import { registerVirtioDevice } from '../registry.js';
import { VirtioConsole } from './device.js';
import { VirtioConsolePorts } from './ports.js';

export interface ConsoleSpec {
  type: 'console';
  queueSize?: number;
  size?: { cols: number; rows: number };
}

/** A multiport virtio-console: port p is named ports[p]. */
export interface ConsolePortsSpec {
  type: 'console-ports';
  ports: string[];
  queueSize?: number;
}

declare module '../registry.js' {
  interface VirtioDeviceSpecs { console: ConsoleSpec; 'console-ports': ConsolePortsSpec }
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

registerVirtioDevice('console-ports', {
  name: (spec) => `virtio-console (${spec.ports.join(', ')})`,
  build(spec, hooks) {
    const device = new VirtioConsolePorts({
      ports: spec.ports, output: hooks.portOutput, inputTaken: hooks.inputTaken, logger: hooks.logger,
      ...(hooks.outputBlocked ? { outputBlocked: hooks.outputBlocked } : {}),
      ...(spec.queueSize !== undefined ? { queueSize: spec.queueSize } : {}),
    });
    return {
      device, config: device.configSpace, console: null, close: () => {}, counters: () => ({ ...device.counters }),
      ports: { queueInput: (port, bytes) => device.queueInput(port, bytes), endInput: (port) => device.endInput(port), transmitIdle: () => device.transmitIdle() },
    };
  },
});
