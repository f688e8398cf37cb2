/**
 * Restoring a snapshot (docs/snapshot.md, "Restore"). `loadSnapshot` reads
 * and checks everything a restore needs, before any VM exists: the state
 * file's framing and checksum, the format version, every section's
 * presence and size, the saved configuration, the memory file's size, the
 * disks (same paths, same sizes), the device set and the host's KVM
 * capabilities. Any problem is one SnapshotError line. `applySnapshot`
 * then loads the state into a VM that builder.ts built from the saved
 * configuration over the memory file, before its vCPUs start.
 */
import { closeSync, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ramRegions } from '../../arch/x86/layout.js';
import { SavedStateError, StateReader } from '../../util/saved-state.js';
import { TkvmError } from '../../util/errors.js';
import * as log from '../../util/log.js';
import type { DiskConfig, NicConfig, VmConfig } from '../config.js';
import type { VmParts } from '../builder.js';
import { nicSpecs } from '../net.js';
import { decodeStateFile, malformed, MAX_STATE_FILE_BYTES, SnapshotError } from './format.js';
import {
  checkCapabilities, kvmCapabilities, readVcpuSections, readVmSections, restoreVcpu, restoreVm,
  type KvmCapabilities, type VcpuSavedState, type VmSavedState,
} from './kvm-state.js';
import { MEMORY_FILE_PATTERN, STATE_FILE, type SnapshotMeta } from './snapshot.js';

export interface LoadedSnapshot {
  dir: string;
  meta: SnapshotMeta;
  /** The saved configuration, checked. */
  config: VmConfig;
  /** The memory file, open read-only (builder maps it, then closes it). */
  memoryFd: number;
  vcpus: VcpuSavedState[];
  vm: VmSavedState;
  devices: { serial: unknown; i8042: unknown; rtc: unknown; pci: SavedPci };
}

interface SavedPci {
  configAddress: number;
  bridge: unknown;
  functions: Array<{ slot: number; type: string; state: unknown }>;
}

/** Reads and checks the snapshot in `dir`; throws SnapshotError (or SavedStateError) with one line. */
export function loadSnapshot(dir: string, opts: { tkvmVersion: string; env?: NodeJS.ProcessEnv }): LoadedSnapshot {
  const statePath = join(dir, STATE_FILE);
  let size: number;
  try {
    size = statSync(statePath).size;
  } catch {
    throw new SnapshotError('ERR_SNAPSHOT_MISSING', `no snapshot in ${dir} (${statePath} does not exist)`);
  }
  if (size > MAX_STATE_FILE_BYTES) throw new SnapshotError('ERR_SNAPSHOT_TOO_LARGE', `${statePath} has ${size} bytes, more than ${MAX_STATE_FILE_BYTES}`);
  const sections = new Map(decodeStateFile(new Uint8Array(readFileSync(statePath))).map((s) => [s.name, s.payload]));
  const meta = readMeta(parseJson(sections, 'meta'), opts.tkvmVersion);
  const config = meta.config;

  const vcpus = Array.from({ length: config.cpus }, (_, id) => readVcpuSections(sections, id, meta.kvm));
  const vm = readVmSections(sections);
  const pci = readPci(parseJson(sections, 'dev.pci'));
  checkDeviceSet(config, meta, pci, opts.env ?? process.env);
  checkDisks(config.disks ?? [], meta.diskBytes);

  const memoryPath = join(dir, meta.memory.file);
  let memoryFd: number;
  try {
    memoryFd = openSync(memoryPath, 'r');
  } catch {
    throw new SnapshotError('ERR_SNAPSHOT_MISSING', `the snapshot's memory file ${memoryPath} is missing`);
  }
  const memoryBytes = fstatSync(memoryFd).size;
  if (memoryBytes !== config.memBytes || meta.memory.bytes !== config.memBytes) {
    closeSync(memoryFd);
    throw new SnapshotError('ERR_SNAPSHOT_TRUNCATED', `the memory file ${memoryPath} has ${memoryBytes} bytes, the VM has ${config.memBytes}`);
  }
  return {
    dir, meta, config, memoryFd, vcpus, vm,
    devices: { serial: parseJson(sections, 'dev.serial'), i8042: parseJson(sections, 'dev.i8042'), rtc: parseJson(sections, 'dev.rtc'), pci },
  };
}

/** Checks the host's KVM against what the snapshot needs (after KVM is opened, before any state is loaded). */
export function checkHost(parts: VmParts, snapshot: LoadedSnapshot): void {
  checkCapabilities(snapshot.meta.kvm, kvmCapabilities(parts.kvm!, parts.vm!));
  const bsp = parts.vcpus[0]!;
  const hostKhz = bsp.getTscKhz();
  const want = snapshot.meta.tscKhz;
  if (want === 0 || hostKhz === want) return;
  if (!snapshot.meta.kvm.tscControl && !(parts.kvm!.checkExtension('TSC_CONTROL') > 0)) {
    throw new SnapshotError('ERR_SNAPSHOT_MISMATCH', `the snapshot's guest TSC runs at ${want} kHz, this host's at ${hostKhz} kHz, and its KVM cannot scale it (no KVM_CAP_TSC_CONTROL)`);
  }
  for (const vcpu of parts.vcpus) {
    try {
      vcpu.setTscKhz(want);
    } catch (err) {
      throw new SnapshotError('ERR_SNAPSHOT_MISMATCH', `cannot run the guest TSC at the snapshot's ${want} kHz here (host ${hostKhz} kHz): ${(err as Error).message}`);
    }
  }
}

/**
 * Loads the snapshot into `parts` (built from its config over its memory
 * file, vCPUs not started): VM state, each vCPU, the legacy devices, the
 * PCI root, then each virtio function (config space, MSI-X, transport;
 * a running device is activated with its rings where they stood).
 */
export function applySnapshot(parts: VmParts, snapshot: LoadedSnapshot): void {
  const { vm, legacy, pci } = parts;
  if (!vm || !legacy || !pci) throw new TkvmError('ERR_SNAPSHOT_MISSING', 'the VM is not built');
  checkHost(parts, snapshot);
  restoreVm(vm, snapshot.vm);
  snapshot.vcpus.forEach((state, i) => restoreVcpu(parts.vcpus[i]!, state));
  legacy.serial.restoreState(snapshot.devices.serial);
  legacy.i8042.restoreState(snapshot.devices.i8042);
  legacy.rtc.restoreState(snapshot.devices.rtc);
  const saved = snapshot.devices.pci;
  const address = new Uint8Array(4);
  new DataView(address.buffer).setUint32(0, saved.configAddress, true);
  pci.root.configIo.write(0, address);
  if (saved.bridge !== null) pci.root.device(0)?.config.restoreState(saved.bridge);
  if (pci.functions.length !== saved.functions.length) throw new SnapshotError('ERR_SNAPSHOT_MISMATCH', `the VM has ${pci.functions.length} PCI functions, the snapshot ${saved.functions.length}`);
  pci.functions.forEach((fn, i) => {
    const want = saved.functions[i]!;
    if (fn.slot !== want.slot || fn.spec.type !== want.type) {
      throw new SnapshotError('ERR_SNAPSHOT_MISMATCH', `PCI slot ${fn.slot} holds ${fn.spec.type}, the snapshot has ${want.type} in slot ${want.slot}`);
    }
    fn.transport.restoreState(want.state);
  });
  log.debug(`restored ${snapshot.vcpus.length} vCPU(s) and ${pci.functions.length} PCI function(s) from ${snapshot.dir}`);
}

function parseJson(sections: ReadonlyMap<string, Uint8Array>, name: string): unknown {
  const bytes = sections.get(name);
  if (!bytes) throw malformed(`section ${name} is missing`);
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw malformed(`section ${name} is not valid JSON`);
  }
}

function readMeta(value: unknown, tkvmVersion: string): SnapshotMeta {
  const r = new StateReader(value, 'meta');
  const version = r.string('tkvmVersion', 64);
  if (version !== tkvmVersion) log.debug(`snapshot made by tkvm ${version}, restoring with ${tkvmVersion}`);
  const k = r.object('kvm');
  const kvm: KvmCapabilities = { xsaveBytes: k.int('xsaveBytes', 0, 1 << 20), xcrs: k.bool('xcrs'), debugregs: k.bool('debugregs'), tscControl: k.bool('tscControl') };
  if (kvm.xsaveBytes !== 0 && kvm.xsaveBytes < 4096) throw new SavedStateError('meta.kvm.xsaveBytes', 'is smaller than struct kvm_xsave');
  const m = r.object('memory');
  const file = m.string('file', 64);
  if (!MEMORY_FILE_PATTERN.test(file)) throw new SavedStateError('meta.memory.file', 'is not a memory file name');
  const config = readConfig((value as { config?: unknown }).config);
  const pages = config.memBytes / 4096;
  return {
    tkvmVersion: version,
    createdAtMs: r.int('createdAtMs', 0, Number.MAX_SAFE_INTEGER),
    config,
    kvm,
    tscKhz: r.int('tscKhz', 0, 100_000_000),
    memory: { file, bytes: m.int('bytes', 0, Number.MAX_SAFE_INTEGER), touchedPages: m.int('touchedPages', 0, pages), dataPages: m.int('dataPages', 0, pages) },
    diskBytes: r.array('diskBytes', 64, (v, where) => new StateReader({ v }, where).int('v', 0, Number.MAX_SAFE_INTEGER)),
    pciFunctions: r.array('pciFunctions', 32, (v, where) => {
      const f = new StateReader(v, where);
      return { slot: f.int('slot', 0, 31), type: f.string('type', 16) };
    }),
  };
}

/** The saved VmConfig, field by field: a snapshot can only describe a VM `tkvm run` could have built. */
function readConfig(value: unknown): VmConfig {
  const r = new StateReader(value, 'meta.config');
  const optional = <T>(key: string, read: () => T): T | undefined => (r.has(key) ? read() : undefined);
  const memBytes = r.int('memBytes', 16 << 20, 1024 * 1024 * 1024 * 1024);
  if (memBytes % 4096 !== 0) throw new SavedStateError('meta.config.memBytes', 'is not a whole number of pages');
  ramRegions(memBytes);
  const disks = optional('disks', () => r.array('disks', 32, (v, where): DiskConfig => {
    const d = new StateReader(v, where);
    return { path: d.string('path'), readOnly: d.bool('readOnly'), ...(d.has('serial') ? { serial: d.string('serial', 20) } : {}) };
  }));
  const nics = optional('nics', () => r.array('nics', 8, (v, where): NicConfig => {
    const n = new StateReader(v, where);
    const backend = n.string('backend', 8);
    if (backend !== 'user' && backend !== 'tap') throw new SavedStateError(`${where}.backend`, 'must be user or tap');
    const ports = n.array('ports', 64, (p, at) => {
      const f = new StateReader(p, at);
      const protocol = f.string('protocol', 3);
      if (protocol !== 'tcp' && protocol !== 'udp') throw new SavedStateError(`${at}.protocol`, 'must be tcp or udp');
      return { protocol, hostAddress: f.string('hostAddress', 64), hostPort: f.int('hostPort', 1, 65535), guestPort: f.int('guestPort', 1, 65535) } as const;
    });
    return {
      backend, ports, dns: n.bool('dns'),
      ...(n.has('ifname') ? { ifname: n.string('ifname', 15) } : {}),
      ...(n.has('mac') ? { mac: n.string('mac', 17) } : {}),
      ...(n.has('implicit') ? { implicit: n.bool('implicit') } : {}),
      ...(n.has('ip') ? { ip: n.string('ip', 18) } : {}),
      ...(n.has('gateway') ? { gateway: n.string('gateway', 15) } : {}),
    };
  }));
  if (r.has('shares') && r.array('shares', 32, (v) => v).length > 0) throw new SavedStateError('meta.config.shares', 'shared directories are not restorable yet');
  const console = optional('console', () => r.string('console', 8));
  if (console !== undefined && console !== 'serial' && console !== 'virtio') throw new SavedStateError('meta.config.console', 'must be serial or virtio');
  const compat = optional('compat', () => r.string('compat', 8));
  if (compat !== undefined && compat !== 'auto' && compat !== 'none' && compat !== 'pvm') throw new SavedStateError('meta.config.compat', 'must be auto, none or pvm');
  const config: VmConfig = {
    kernelPath: r.string('kernelPath'),
    cmdline: r.string('cmdline', 65536),
    cpus: r.int('cpus', 1, 255),
    memBytes,
  };
  const initrd = optional('initrdPath', () => r.string('initrdPath'));
  if (initrd !== undefined) config.initrdPath = initrd;
  for (const flag of ['testDevices', 'debugExit', 'guestProtocol', 'rng'] as const) {
    const v = optional(flag, () => r.bool(flag));
    if (v !== undefined) config[flag] = v;
  }
  if (disks) config.disks = disks;
  if (nics) config.nics = nics;
  if (console) config.console = console;
  if (compat) config.compat = compat;
  return config;
}

function readPci(value: unknown): SavedPci {
  const r = new StateReader(value, 'dev.pci');
  return {
    configAddress: r.int('configAddress', 0, 0xffff_ffff),
    bridge: (value as { bridge?: unknown }).bridge ?? null,
    functions: r.array('functions', 31, (v, where) => {
      const f = new StateReader(v, where);
      return { slot: f.int('slot', 1, 31), type: f.string('type', 16), state: (v as { state?: unknown }).state };
    }),
  };
}

/** The virtio functions the saved config builds here must be the ones the snapshot has, slot by slot. */
function checkDeviceSet(config: VmConfig, meta: SnapshotMeta, pci: SavedPci, env: NodeJS.ProcessEnv): void {
  const types = [
    ...(config.disks ?? []).map(() => 'blk'),
    ...nicSpecs(config.nics ?? [], () => {}, env).map(() => 'net'),
    ...(config.rng ? ['rng'] : []),
    ...(config.console === 'virtio' ? ['console'] : []),
  ];
  const saved = meta.pciFunctions.map((f) => f.type);
  if (types.join(',') !== saved.join(',') || pci.functions.map((f) => f.type).join(',') !== saved.join(',')) {
    throw new SnapshotError('ERR_SNAPSHOT_MISMATCH', `the snapshot's devices (${saved.join(', ') || 'none'}) are not what its configuration builds on this host (${types.join(', ') || 'none'})`);
  }
}

function checkDisks(disks: readonly DiskConfig[], sizes: readonly number[]): void {
  if (disks.length !== sizes.length) throw malformed(`${disks.length} disks but ${sizes.length} disk sizes`);
  disks.forEach((disk, i) => {
    let size: number;
    try {
      size = statSync(disk.path).size;
    } catch {
      throw new SnapshotError('ERR_SNAPSHOT_MISMATCH', `the snapshot's disk ${disk.path} does not exist`);
    }
    if (size !== sizes[i]) throw new SnapshotError('ERR_SNAPSHOT_MISMATCH', `the snapshot's disk ${disk.path} has ${size} bytes now, ${sizes[i]} when the snapshot was taken`);
  });
}
