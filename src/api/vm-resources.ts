/**
 * The resource model of one VM, as Firecracker's VmResources holds it
 * before boot: machine config, boot source, drives, network interfaces and
 * the entropy device, each validated by its module under resources/. The
 * HTTP API, the config file and the library all fill it in; toVmConfig()
 * turns it into the VmConfig that tkvm's one builder (src/vmm/builder.ts)
 * makes a VM of.
 */
import { ApiError, unsupported } from './errors.js';
import { parseBody } from './schema.js';
import { acceptMachineConfig, defaultMachineConfig, MachineConfiguration, MachineConfigurationUpdate } from './resources/machine-config.js';
import { acceptBootSource, BootSource, DEFAULT_BOOT_ARGS, type BootSourceBody } from './resources/boot-source.js';
import { acceptDrive, Drive, drivesToDisks, rootArgs, type DriveBody } from './resources/drives.js';
import { acceptNetworkInterface, interfacesToNics, NetworkInterface, type NetworkInterfaceBody } from './resources/network-interfaces.js';
import { acceptEntropy, EntropyDevice, type EntropyBody } from './resources/entropy.js';
import { FullVmConfiguration, type FullVmConfigurationBody } from './resources/full-config.js';
import type { VmConfig } from '../vmm/config.js';

/** What the resource model does not say: tkvm's own choices for the VM. */
export interface TkvmVmOptions {
  /** VM name for the control socket (tkvm list/stop); default guest-PID. */
  name?: string | undefined;
  /** The debug-exit port 0x501 (the test guests end through it). */
  debugExit?: boolean | undefined;
  /** The echo devices of the integration-test guests (implies debugExit). */
  testDevices?: boolean | undefined;
  compat?: VmConfig['compat'];
  logLevel?: VmConfig['logLevel'];
}

/**
 * Firecracker's guests run without PCI (virtio-mmio); tkvm's virtio devices
 * are PCI functions, so a `pci=off` in boot_args would hide them all.
 */
function withoutPciOff(args: string): string {
  return args.split(/\s+/).filter((word) => word.length > 0 && word !== 'pci=off').join(' ');
}

export class VmResources {
  machineConfig = defaultMachineConfig();
  bootSource: BootSourceBody | undefined;
  /** In the order they were first PUT; the root device goes first at boot. */
  readonly drives = new Map<string, DriveBody>();
  readonly interfaces = new Map<string, NetworkInterfaceBody>();
  entropy: EntropyBody | undefined;

  putMachineConfig(body: unknown): void {
    this.machineConfig = acceptMachineConfig(parseBody(MachineConfiguration, body, 'machine-config'));
  }

  /** Changes the given fields only; the result must still be acceptable as a whole. */
  patchMachineConfig(body: unknown): void {
    const update = parseBody(MachineConfigurationUpdate, body, 'machine-config');
    const merged = { ...this.machineConfig };
    for (const [key, value] of Object.entries(update)) if (value !== undefined && value !== null) (merged as Record<string, unknown>)[key] = value;
    this.machineConfig = acceptMachineConfig(merged);
  }

  putBootSource(body: unknown): void {
    this.bootSource = acceptBootSource(parseBody(BootSource, body, 'boot-source'));
  }

  putDrive(id: string, body: unknown): void {
    const drive = acceptDrive(parseBody(Drive, body, `drive ${id}`), id);
    if (drive.is_root_device) {
      for (const other of this.drives.values()) {
        if (other.is_root_device && other.drive_id !== id) throw new ApiError('ERR_API_ROOT_DRIVE', 'A root block device already exists!');
      }
    }
    this.drives.set(id, drive);
  }

  putNetworkInterface(id: string, body: unknown): void {
    const nic = acceptNetworkInterface(parseBody(NetworkInterface, body, `network interface ${id}`), id);
    for (const other of this.interfaces.values()) {
      if (other.iface_id === id) continue;
      if (other.host_dev_name === nic.host_dev_name) throw new ApiError('ERR_API_TAP_IN_USE', `The host device name ${nic.host_dev_name} is already in use.`);
      if (nic.guest_mac != null && other.guest_mac?.toLowerCase() === nic.guest_mac.toLowerCase()) throw new ApiError('ERR_API_MAC_IN_USE', `The guest MAC address ${nic.guest_mac} is already in use.`);
    }
    this.interfaces.set(id, nic);
  }

  putEntropy(body: unknown): void {
    this.entropy = acceptEntropy(parseBody(EntropyDevice, body, 'entropy'));
  }

  /**
   * Fills the model from a whole configuration (a --config-file, the
   * library's createVm), each resource through the same path as its PUT.
   * Returns the logger and metrics parts, which belong to the process.
   */
  applyFullConfig(body: unknown): Pick<FullVmConfigurationBody, 'logger' | 'metrics'> {
    const config = parseBody(FullVmConfiguration, body, 'VM configuration');
    if (config.vsock != null) throw unsupported('vsock devices yet');
    if (config.balloon != null) throw unsupported('balloon devices yet');
    for (const key of ['cpu-config', 'mmds-config', 'memory-hotplug', 'serial'] as const) {
      if (config[key] != null) throw unsupported(`${key} in the VM configuration`);
    }
    if (config.pmem != null && !(Array.isArray(config.pmem) && config.pmem.length === 0)) throw unsupported('pmem devices');
    if (config['machine-config'] != null) this.putMachineConfig(config['machine-config']);
    if (config['boot-source'] != null) this.putBootSource(config['boot-source']);
    for (const drive of config.drives ?? []) this.putDrive(drive.drive_id, drive);
    for (const nic of config['network-interfaces'] ?? []) this.putNetworkInterface(nic.iface_id, nic);
    if (config.entropy != null) this.putEntropy(config.entropy);
    return { logger: config.logger, metrics: config.metrics };
  }

  /** The kernel command line: boot_args (or Firecracker's default) without pci=off, then the root drive's. */
  cmdline(): string {
    const args = withoutPciOff(this.bootSource?.boot_args ?? DEFAULT_BOOT_ARGS);
    return [args, rootArgs([...this.drives.values()])].filter((p) => p.length > 0).join(' ');
  }

  /** The VmConfig tkvm builds; a VM without a kernel cannot start. */
  toVmConfig(options: TkvmVmOptions = {}): VmConfig {
    const boot = this.bootSource;
    if (!boot) throw new ApiError('ERR_API_NO_KERNEL', 'Cannot start microvm without kernel configuration.');
    return {
      kernelPath: boot.kernel_image_path,
      initrdPath: boot.initrd_path ?? undefined,
      cmdline: this.cmdline(),
      cpus: this.machineConfig.vcpu_count,
      memBytes: this.machineConfig.mem_size_mib * 1024 * 1024,
      name: options.name,
      disks: drivesToDisks([...this.drives.values()]),
      nics: interfacesToNics([...this.interfaces.values()]),
      rng: this.entropy !== undefined,
      console: 'serial',
      testDevices: options.testDevices ?? false,
      debugExit: (options.debugExit ?? false) || (options.testDevices ?? false),
      compat: options.compat ?? 'auto',
      ...(options.logLevel !== undefined ? { logLevel: options.logLevel } : {}),
    };
  }

  /** The model as GET /vm/config answers it (no logger or metrics: the caller adds those). */
  exportConfig(): FullVmConfigurationBody {
    return {
      'machine-config': { ...this.machineConfig },
      ...(this.bootSource ? { 'boot-source': { ...this.bootSource } } : {}),
      drives: [...this.drives.values()].map((d) => ({ ...d })),
      'network-interfaces': [...this.interfaces.values()].map((n) => ({ ...n })),
      ...(this.entropy ? { entropy: { ...this.entropy } } : {}),
    };
  }
}
