/**
 * Turns a VmConfig into the parts of a VM that is ready to run (as
 * Firecracker's builder.rs does for its Vmm): KVM objects, guest RAM with
 * the loaded guest and firmware tables, vCPUs in their boot state, the
 * legacy devices and the virtio-pci functions with their device threads.
 * Nothing runs yet; Machine (machine.ts) starts the vCPUs and owns the VM
 * from then on. The builder knows nothing about vCPU threads, the control
 * socket or shutdown: what the devices report goes to the VmEvents it is
 * given.
 */
import { closeSync } from 'node:fs';
import { Kvm } from '../kvm/kvm.js';
import type { Vm } from '../kvm/vm.js';
import type { Vcpu } from '../kvm/vcpu.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { TkvmError } from '../util/errors.js';
import * as log from '../util/log.js';
import { mark } from '../util/timing.js';
import { type VmConfig, ExitStatus } from './config.js';
import { DeviceManager } from './device-manager.js';
import { ramRegions } from '../arch/x86/layout.js';
import { loadGuest } from '../arch/x86/boot.js';
import { buildVcpuCpuid } from '../arch/x86/cpuid.js';
import { configureLapicLints } from './lapic.js';
import { writeAcpiTables, ACPI_TABLES_START, ACPI_SLEEP_CONTROL_PORT, pcGsiRoutes } from '../arch/x86/acpi/index.js';
import { writeMpTable } from '../arch/x86/mptable.js';
import { AcpiSleepControl } from '../devices/legacy/acpi-sleep.js';
import { Pvpanic, PVPANIC_PORT, pvpanicAml } from '../devices/legacy/pvpanic.js';
import type { HostCompat } from './compat/index.js';
import { PciDevices, PCI_ECAM_BASE } from './pci-devices.js';
import type { ConsoleInputSink } from '../devices/legacy/console.js';
import { attachLegacyDevices, type ConsoleIo, type LegacyDevices } from './legacy.js';
import { nicSpecs } from './net.js';
import { EXEC_PORT_NAMES, ExecStreams } from './exec-streams.js';

/** Outside guest RAM, below the 4 GiB boundary, as other VMMs place them (Intel VMX needs both). */
const TSS_ADDR = 0xfffb_d000;
const IDENTITY_MAP_ADDR = 0xfffb_c000n;

/** What the built VM's devices report to whoever runs it. */
export interface VmEvents {
  /** A device ends the VM (power off, reset, panic, debug-exit, Ctrl-A x). */
  shutdown(status: number, reason: string, clean?: boolean): void;
  /** The default guest's init reported its command's status (TKVM_EXIT_STATUS). */
  guestExitStatus(status: number): void;
  /** A chunk of guest console output, as the terminal got it (the control socket's `console` clients). */
  consoleChunk?(chunk: Uint8Array): void;
}

/**
 * The parts of one VM. Fields are set as they are built, so that a build
 * that fails half-way releases exactly what it made (`release`).
 */
export class VmParts {
  readonly devices = new DeviceManager();
  kvm: Kvm | undefined;
  vm: Vm | undefined;
  mem: GuestMemory | undefined;
  vcpus: Vcpu[] = [];
  legacy: LegacyDevices | undefined;
  pci: PciDevices | undefined;
  /** The guest command's streams (VmConfig.execStreams); finish them before release. */
  execStreams: ExecStreams | undefined;

  /** Stops the device threads and closes everything, in reverse order of construction; the vCPU threads must have stopped. */
  async release(): Promise<void> {
    this.execStreams?.close();
    this.execStreams = undefined;
    await this.pci?.close();
    this.pci = undefined;
    this.legacy?.close();
    this.legacy = undefined;
    for (const v of this.vcpus) v.close();
    this.vcpus = [];
    this.vm?.close();
    this.mem?.close();
    this.kvm?.close();
    this.vm = undefined;
    this.mem = undefined;
    this.kvm = undefined;
  }
}

/** A restore: guest RAM comes from a snapshot's memory file, and the snapshot's state replaces the boot state. */
export interface RestoreSource {
  /** The memory file, open for reading; mapped private (copy-on-write), then closed. */
  memoryFd: number;
}

/**
 * Builds every part of the VM `config` describes; on failure releases what
 * it built and throws. With `restore`, RAM is the snapshot's and nothing is
 * loaded into it: no guest, no firmware tables, no boot registers.
 */
export async function buildVm(config: VmConfig, compat: HostCompat, events: VmEvents, consoleIo?: ConsoleIo, restore?: RestoreSource): Promise<VmParts> {
  const parts = new VmParts();
  try {
    buildCore(parts, config, compat, events, consoleIo, restore);
    await attachVirtio(parts, config, events);
    return parts;
  } catch (err) {
    await parts.release();
    throw err;
  }
}

/** KVM, RAM, vCPUs, the loaded guest, firmware tables and the platform devices. */
function buildCore(parts: VmParts, cfg: VmConfig, compat: HostCompat, events: VmEvents, consoleIo: ConsoleIo | undefined, restore: RestoreSource | undefined): void {
  const kvm = (parts.kvm = Kvm.open());
  const limits = kvm.vcpuLimits();
  if (cfg.cpus > limits.max) throw new TkvmError('ERR_TOO_MANY_VCPUS', `--cpus ${cfg.cpus} is more than this host's KVM allows (${limits.max})`, 2);
  if (cfg.cpus > limits.recommended) log.warn(`--cpus ${cfg.cpus} is above KVM's recommended ${limits.recommended} vCPUs`);

  const vm = (parts.vm = kvm.createVm());
  vm.setTssAddr(TSS_ADDR);
  vm.setIdentityMapAddr(IDENTITY_MAP_ADDR);
  vm.createIrqchip();
  vm.setGsiRouting(pcGsiRoutes()); // ISA IRQ 0 on IOAPIC pin 2, as the MADT and MP table say
  vm.createPit2();

  const mem = (parts.mem = restore ? mapSnapshotMemory(cfg.memBytes, restore.memoryFd) : GuestMemory.allocate(ramRegions(cfg.memBytes)));
  mem.regions().forEach((r, slot) => vm.setUserMemoryRegion(slot, BigInt(r.guestBase), r.size, r.hostAddr!));

  const supported = kvm.supportedCpuid();
  for (let i = 0; i < cfg.cpus; i++) {
    const vcpu = vm.createVcpu(i);
    parts.vcpus.push(vcpu);
    vcpu.setCpuid(buildVcpuCpuid(supported, i, cfg.cpus));
    configureLapicLints(vcpu);
  }
  if (!restore) loadBootState(parts, cfg, compat);
  attachPlatformDevices(parts, cfg, events, consoleIo);
}

/** A snapshot's memory file as guest RAM; the fd is closed either way (the mapping keeps the file). */
function mapSnapshotMemory(memBytes: number, fd: number): GuestMemory {
  try {
    return GuestMemory.mapPrivateFile(ramRegions(memBytes), fd);
  } finally {
    closeSync(fd);
  }
}

/** The guest, its command line, the firmware tables and the boot vCPU's registers. */
function loadBootState(parts: VmParts, cfg: VmConfig, compat: HostCompat): void {
  const mem = parts.mem!;
  const bsp = parts.vcpus[0]!;
  // Firmware tables: Linux finds ACPI through boot_params (and by scanning), older kernels the MP table.
  const acpi = writeAcpiTables(mem, { cpus: cfg.cpus, tablesAddr: ACPI_TABLES_START, ecamBase: PCI_ECAM_BASE, extraDsdtDevices: [pvpanicAml()] });
  writeMpTable(mem, { cpus: cfg.cpus });

  const hostParams = compat.kernelParams({ tscKhz: bsp.getTscKhz() });
  const cmdline = [cfg.cmdline, ...hostParams].filter((p) => p.length > 0).join(' ');
  const boot = loadGuest(mem, {
    kernelPath: cfg.kernelPath,
    ...(cfg.initrdPath !== undefined ? { initrdPath: cfg.initrdPath } : {}),
    cmdline,
    memBytes: cfg.memBytes,
    acpiRsdpAddr: acpi.rsdpAddr,
  });
  log.debug(`loaded ${boot.kind} guest, entry 0x${boot.entry.toString(16)}, cmdline: ${cmdline}`);
  for (const vcpu of parts.vcpus) vcpu.setMsrs(boot.msrs);
  // The BSP starts at the kernel entry; APs wait for INIT/SIPI from it. Keep KVM's APIC base (BSP flag).
  bsp.setSregs({ ...boot.sregs, apicBase: bsp.getSregs().apicBase });
  bsp.setRegs(boot.regs);
  bsp.setFpu(boot.fpu);
}

/** The legacy devices, ACPI sleep control, the PCI root and pvpanic. */
function attachPlatformDevices(parts: VmParts, cfg: VmConfig, events: VmEvents, consoleIo: ConsoleIo | undefined): void {
  const vm = parts.vm!;
  const devices = parts.devices;
  parts.legacy = attachLegacyDevices(devices, vm, {
    memBytes: cfg.memBytes,
    testDevices: cfg.testDevices ?? false,
    debugExit: cfg.debugExit ?? false,
    serialInput: cfg.console !== 'virtio' && !cfg.execStreams,
    ...(cfg.execStreams ? { consoleOutput: process.stderr } : {}),
    consoleIo,
    onExit: (status, reason, clean) => events.shutdown(status, reason, clean),
    ...(events.consoleChunk ? { onConsoleOutput: (chunk: Uint8Array) => events.consoleChunk?.(chunk) } : {}),
    guestProtocol: cfg.guestProtocol ? {
      onInitStart: () => mark('guest-init'),
      onExitStatus: (status) => events.guestExitStatus(status),
    } : null,
  });
  devices.addPio(ACPI_SLEEP_CONTROL_PORT, 2, 'acpi sleep control', new AcpiSleepControl({
    onPowerOff: () => events.shutdown(ExitStatus.POWEROFF, 'guest powered off (ACPI S5)'),
    onReset: () => events.shutdown(ExitStatus.POWEROFF, 'guest reset (ACPI reset register)'),
  }));
  parts.pci = new PciDevices(vm, devices, () => events.shutdown(ExitStatus.POWEROFF, 'guest reset (PCI reset control 0xCF9)'));
  devices.addPio(PVPANIC_PORT, 1, 'pvpanic', new Pvpanic({
    onPanic: (event) => events.shutdown(ExitStatus.GUEST_PANIC, event === 'panicked' ? 'guest kernel panicked' : 'guest kernel crashed (crash kernel loaded)'),
  }));
}

/** One virtio-pci function per configured device, each with its device thread. */
async function attachVirtio(parts: VmParts, cfg: VmConfig, events: VmEvents): Promise<void> {
  const pci = parts.pci!;
  const mem = parts.mem!;
  const devices = parts.devices;
  for (const disk of cfg.disks ?? []) {
    await pci.add({ type: 'blk', path: disk.path, readOnly: disk.readOnly, ...(disk.serial !== undefined ? { serial: disk.serial } : {}) }, mem, devices);
  }
  for (const nic of nicSpecs(cfg.nics ?? [], (m) => log.warn(m))) await pci.add(nic, mem, devices);
  for (const share of cfg.shares ?? []) await pci.add({ type: '9p', hostPath: share.hostPath, tag: share.tag, readOnly: share.readOnly }, mem, devices);
  if (cfg.rng) await pci.add({ type: 'rng' }, mem, devices);
  if (cfg.console === 'virtio') {
    const legacy = parts.legacy!;
    const output = legacy.guestOutput();
    // Flow control: the device's window is returned once stdout has taken the bytes.
    const fn = await pci.add({ type: 'console' }, mem, devices, {
      onOutput: (bytes, sent) => {
        for (const b of bytes) output(b);
        legacy.console.whenOutputDrained(sent);
      },
    });
    // The terminal now types into hvc0; the UART stays for early boot messages.
    const sink: ConsoleInputSink = {
      enqueueInput: (bytes) => {
        fn.backend.sendInput(bytes);
        return bytes.length;
      },
      inputSpace: () => 1 << 16,
      sendBreak: () => false,
    };
    if (!cfg.execStreams) legacy.console.attach(sink);
  }
  // Last, so that adding it moves no other device's PCI slot (vda, eth0 keep their names).
  if (cfg.execStreams) {
    const streams = new ExecStreams({
      input: process.stdin, stdout: process.stdout, stderr: process.stderr,
      onBrokenPipe: () => events.shutdown(ExitStatus.SIGPIPE, 'the reader of the command\'s stdout went away (broken pipe)'),
    });
    const fn = await pci.add({ type: 'console-ports', ports: EXEC_PORT_NAMES }, mem, devices, { onOutput: streams.output, onInputRoom: streams.inputRoom });
    parts.execStreams = streams;
    streams.attach(fn.backend);
  }
}
