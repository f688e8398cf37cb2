/**
 * The virtio device kinds tkvm knows, and how a device thread builds one
 * from its spec (docs/devices.md). Each device folder registers its kind
 * (register.ts); devices.ts imports every folder, one line each. Specs are
 * plain, structured-clonable data: the main thread sends one to a device
 * worker, which builds the device itself (device objects cannot cross
 * threads), so the registrations run in every thread that imports
 * devices.ts.
 *
 * Host resources (a disk image, a TAP device) belong to backends/, which
 * devices/ may not import. A device kind names what it needs with a
 * HostResource, and the layer that owns the backends provides an opener
 * for it (vmm/virtio-host.ts, loaded into each device thread).
 */
import { TkvmError } from '../../util/errors.js';
import type { ConfigSpace } from './config-space.js';
import type { VirtioDevice } from './device.js';
import type { DeviceLogger } from './log.js';

/**
 * Spec type by kind. Each device folder adds its own entry by module
 * augmentation, next to its registration:
 *
 *   declare module '../registry.js' { interface VirtioDeviceSpecs { rng: RngSpec } }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- entries come from module augmentation
export interface VirtioDeviceSpecs {}

/**
 * Host-side changes a running device of a kind takes (a disk's new file),
 * by kind, added by module augmentation as VirtioDeviceSpecs are.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- entries come from module augmentation
export interface VirtioDeviceUpdates {}

/** An update of any kind that has them: `{ type: kind, ...change }`. */
export type VirtioDeviceUpdate = VirtioDeviceUpdates[keyof VirtioDeviceUpdates];

/**
 * Configuration-space bytes an update changed. The device thread does not
 * write them itself: the transport's side stores them and bumps
 * config_generation in one step, between two guest accesses, so that no
 * driver read sees half of the change under an unchanged generation
 * (virtio 1.2 §2.5.1, §4.1.4.3).
 */
export interface ConfigPatch {
  writes: Array<{ offset: number; bytes: Uint8Array }>;
}

/** A spec of any registered kind: `{ type: kind, ...options }`. */
export type VirtioDeviceSpec = VirtioDeviceSpecs[keyof VirtioDeviceSpecs];
export type VirtioDeviceType = VirtioDeviceSpec['type'];

/** What a console-like device takes from the host side (input, resizes). */
export interface ConsoleEndpoint {
  /** Host input for the guest; false if some was dropped (no room). */
  queueInput(bytes: Uint8Array): boolean;
  /** The terminal's size changed; true if the device's config changed. */
  resize(cols: number, rows: number): boolean;
}

/** What a device with several named byte streams (a multiport virtio-console) takes from the host side. */
export interface PortsEndpoint {
  /** Host input for `port`; false if some was dropped (no room). */
  queueInput(port: number, bytes: Uint8Array): boolean;
  /** The host's input for `port` ended: the guest reads end of file after the pending bytes. */
  endInput(port: number): void;
  /** No guest output waits in any transmit queue (used to drain output at exit). */
  transmitIdle(): boolean;
}

export interface BuiltVirtioDevice {
  device: VirtioDevice;
  /** Its configuration space, shared with the transport's thread; null for none. */
  config: ConfigSpace | null;
  /** Set for console devices: host input and resizes go here. */
  console: ConsoleEndpoint | null;
  /** Set for multiport consoles: per-port host input. */
  ports?: PortsEndpoint | null;
  /** Flat numeric counters for stats. */
  counters(): Record<string, number>;
  /** Releases what the factory opened (host backends); called after the device's last reset. */
  close(): void;
  /**
   * Applies a host-side change while the device runs (between queue
   * services, so no request is half done); throws TkvmError when it cannot,
   * leaving the device as it was. Absent: the kind takes no updates.
   */
  update?(update: VirtioDeviceUpdate): ConfigPatch;
}

/** What the device thread gives a factory. */
export interface DeviceHooks {
  logger: DeviceLogger;
  /** Console output (guest → host). */
  output: (bytes: Uint8Array) => void;
  /** Output of one port of a multiport console (guest → host). */
  portOutput: (port: number, bytes: Uint8Array) => void;
  /** The guest took `bytes` bytes of the host input sent with PortsEndpoint.queueInput (input flow control). */
  inputTaken: (bytes: number) => void;
  /** True while output must wait (flow control, see VirtioConsoleOptions.outputBlocked). */
  outputBlocked?: () => boolean;
  /** Sends the driver a configuration change notification (a NIC's link went down, §4.1.4.3). */
  configChanged?: () => void;
}

export interface VirtioDeviceKind<S extends { type: string }> {
  /** A short name for logs and stats, e.g. `virtio-blk (disk.img)`. */
  name?(spec: S): string;
  /** Builds the device; throws TkvmError (e.g. ERR_DISK_OPEN) for an unusable spec, having released what it opened. */
  build(spec: S, hooks: DeviceHooks): BuiltVirtioDevice;
}

const kinds = new Map<string, VirtioDeviceKind<{ type: string }>>();

/** Registers device kind `type` (once per thread; a second registration is a programming error). */
export function registerVirtioDevice<T extends VirtioDeviceType>(type: T, kind: VirtioDeviceKind<Extract<VirtioDeviceSpec, { type: T }>>): void {
  if (kinds.has(type)) throw new Error(`virtio device kind ${type} registered twice`);
  kinds.set(type, kind as unknown as VirtioDeviceKind<{ type: string }>);
}

/** The kinds registered in this thread. */
export function virtioDeviceTypes(): string[] {
  return [...kinds.keys()];
}

function kindOf(spec: { type: string }): VirtioDeviceKind<{ type: string }> {
  const kind = kinds.get(spec.type);
  if (!kind) throw new TkvmError('ERR_VIRTIO_DEVICE', `unknown virtio device kind ${JSON.stringify(spec.type)} (known: ${virtioDeviceTypes().join(', ') || 'none'})`);
  return kind;
}

/** A short name for logs and stats. */
export function specName(spec: VirtioDeviceSpec): string {
  return kinds.get(spec.type)?.name?.(spec) ?? `virtio-${spec.type}`;
}

/** Builds the device a spec describes; throws TkvmError (e.g. ERR_DISK_OPEN) for unusable specs. */
export function buildVirtioDevice(spec: VirtioDeviceSpec, hooks: DeviceHooks): BuiltVirtioDevice {
  return kindOf(spec).build(spec, hooks);
}

/**
 * A host resource a device kind needs, opened with a request of type Q
 * into an R (e.g. a disk path into a DiskBackend). The token is declared
 * next to the device that uses it; the opener comes from a higher layer.
 */
export class HostResource<Q, R> {
  declare readonly _types: [Q, R];
  constructor(readonly name: string) {}
}

const openers = new Map<HostResource<unknown, unknown>, (request: unknown) => unknown>();

/** Provides the opener for `resource` in this thread (vmm/virtio-host.ts does, in device threads). */
export function provideHostResource<Q, R>(resource: HostResource<Q, R>, open: (request: Q) => R): void {
  openers.set(resource as HostResource<unknown, unknown>, open as (request: unknown) => unknown);
}

/** Opens `resource`; throws ERR_VIRTIO_HOST when this thread has no opener for it. */
export function openHostResource<Q, R>(resource: HostResource<Q, R>, request: Q): R {
  const open = openers.get(resource as HostResource<unknown, unknown>);
  if (!open) throw new TkvmError('ERR_VIRTIO_HOST', `no host backend for ${resource.name} in this device thread`);
  return open(request) as R;
}
