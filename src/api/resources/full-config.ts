/**
 * The whole VM (swagger: FullVmConfiguration): what GET /vm/config answers
 * and what a `--config-file` holds (Firecracker's getting-started guide).
 * Resources tkvm lacks may appear as null or absent; given, they are refused.
 */
import { z } from 'zod';
import { component, optional } from '../schema.js';
import { Balloon } from './balloon.js';
import { BootSource } from './boot-source.js';
import { Drive } from './drives.js';
import { EntropyDevice } from './entropy.js';
import { Logger } from './logger.js';
import { MachineConfiguration } from './machine-config.js';
import { Metrics } from './metrics.js';
import { NetworkInterface } from './network-interfaces.js';
import { Vsock } from './vsock.js';

/** Resources of Firecracker tkvm does not model; accepted only as null, an empty list or absent. */
const Unmodelled = z.unknown();

export const FullVmConfiguration = component('FullVmConfiguration', 'Every resource of the VM (GET /vm/config; the --config-file format).', z.strictObject({
  'boot-source': optional(BootSource),
  'machine-config': optional(MachineConfiguration),
  drives: optional(z.array(Drive)),
  'network-interfaces': optional(z.array(NetworkInterface)),
  entropy: optional(EntropyDevice),
  logger: optional(Logger),
  metrics: optional(Metrics),
  vsock: optional(Vsock),
  balloon: optional(Balloon),
  'cpu-config': optional(Unmodelled),
  'mmds-config': optional(Unmodelled),
  pmem: optional(Unmodelled),
  'memory-hotplug': optional(Unmodelled),
  serial: optional(Unmodelled),
}));

export type FullVmConfigurationBody = z.output<typeof FullVmConfiguration>;
