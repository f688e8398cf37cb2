/**
 * One virtual machine from construction to exit: KVM objects, guest RAM,
 * the loaded guest, devices, vCPU threads, and the single shutdown path
 * that every way of ending goes through.
 */
import { Kvm } from '../kvm/kvm.js';
import type { Vm } from '../kvm/vm.js';
import type { Vcpu } from '../kvm/vcpu.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { installKickHandler, removeKickHandler } from '../sys/signals.js';
import { TkvmError } from '../util/errors.js';
import * as log from '../util/log.js';
import { mark } from '../util/timing.js';
import { type VmConfig, ExitStatus } from './config.js';
import { DeviceManager } from './device-manager.js';
import { MailboxServer, createMailbox } from './mailbox.js';
import { VcpuHandle } from './vcpu-handle.js';
import { VmPause } from './pause.js';
import type { VcpuThreadMessage } from './vcpu-thread.js';
import type { VmController, VmInfo, VcpuDebugInfo, VmStats, VmState } from './controller.js';
import { vcpuDebugInfo } from './debug-info.js';
import { ramRegions } from '../arch/x86/layout.js';
import { loadGuest } from '../arch/x86/boot.js';
import { buildVcpuCpuid } from '../arch/x86/cpuid.js';
import { configureLapicLints } from './lapic.js';
import { writeAcpiTables, ACPI_TABLES_START, ACPI_SLEEP_CONTROL_PORT, pcGsiRoutes } from '../arch/x86/acpi/index.js';
import { writeMpTable } from '../arch/x86/mptable.js';
import { AcpiSleepControl } from '../devices/legacy/acpi-sleep.js';
import { Pvpanic, PVPANIC_PORT, pvpanicAml } from '../devices/legacy/pvpanic.js';
import { detectHostMode, hostCompat, type HostCompat } from './compat/index.js';
import { PciDevices, PCI_ECAM_BASE } from './pci-devices.js';
import type { ConsoleInputSink } from '../devices/legacy/console.js';
import { attachLegacyDevices, type LegacyDevices } from './legacy.js';

/** Outside guest RAM, below the 4 GiB boundary, as other VMMs place them (Intel VMX needs both). */
const TSS_ADDR = 0xfffb_d000;
const IDENTITY_MAP_ADDR = 0xfffb_c000n;

export interface MachineResult {
  status: number;
  reason: string;
  /** The guest ended the way it meant to (power off, debug-exit, its command's status), not by an error. */
  clean: boolean;
}

export class Machine implements VmController {
  readonly config: VmConfig;
  readonly startedAt = Date.now();
  readonly devices = new DeviceManager();
  #kvm: Kvm | undefined;
  #vm: Vm | undefined;
  #mem: GuestMemory | undefined;
  #vcpus: Vcpu[] = [];
  #threads: VcpuHandle[] = [];
  #mailbox: MailboxServer | undefined;
  #legacy: LegacyDevices | undefined;
  #pci: PciDevices | undefined;
  #result: Promise<MachineResult>;
  #resolve!: (r: MachineResult) => void;
  #ending = false;
  /** What the default guest's init reported for `--exec` (TKVM_EXIT_STATUS). */
  #guestExitStatus: number | undefined;
  #signalHandlers: Array<[NodeJS.Signals, () => void]> = [];

  /** Host quirks (PVM): kernel parameters and emulation-failure handling. */
  readonly compat: HostCompat;

  constructor(config: VmConfig) {
    this.config = config;
    this.compat = hostCompat(detectHostMode(config.compat ?? 'auto'));
    this.#result = new Promise((resolve) => { this.#resolve = resolve; });
  }

  /**
   * Builds everything and starts the vCPUs; resolves with how the VM ended.
   * vCPU threads are spawned first so their start-up overlaps the rest;
   * `prepare` (e.g. claiming the control socket) runs before the VM is built.
   */
  async run(prepare?: () => Promise<void>): Promise<MachineResult> {
    installKickHandler();
    for (let i = 0; i < this.config.cpus; i++) {
      this.#threads.push(new VcpuHandle(i, (m) => this.#onVcpuMessage(m), (e) => this.#fail(`vCPU ${i} thread crashed: ${e.message}`)));
    }
    try {
      mark('threads-spawned');
      await prepare?.(); // overlaps the vCPU threads' start-up
      mark('prepared');
      this.#build();
      await this.#attachVirtio();
      // Operator log lines share the terminal with a raw-mode console: they need CR LF.
      log.setRawTerminal(this.#legacy?.console.rawMode ?? false);
      mark('built');
    } catch (err) {
      await this.#teardown();
      throw err;
    }
    this.#watchSignals();
    this.#start();
    mark('started');
    const result = await this.#result;
    await this.#teardown();
    return result;
  }

  #build(): void {
    const cfg = this.config;
    const kvm = (this.#kvm = Kvm.open());
    const limits = kvm.vcpuLimits();
    if (cfg.cpus > limits.max) throw new TkvmError('ERR_TOO_MANY_VCPUS', `--cpus ${cfg.cpus} is more than this host's KVM allows (${limits.max})`, 2);
    if (cfg.cpus > limits.recommended) log.warn(`--cpus ${cfg.cpus} is above KVM's recommended ${limits.recommended} vCPUs`);

    const vm = (this.#vm = kvm.createVm());
    vm.setTssAddr(TSS_ADDR);
    vm.setIdentityMapAddr(IDENTITY_MAP_ADDR);
    vm.createIrqchip();
    vm.setGsiRouting(pcGsiRoutes()); // ISA IRQ 0 on IOAPIC pin 2, as the MADT and MP table say
    vm.createPit2();

    const mem = (this.#mem = GuestMemory.allocate(ramRegions(cfg.memBytes)));
    mem.regions().forEach((r, slot) => vm.setUserMemoryRegion(slot, BigInt(r.guestBase), r.size, r.hostAddr!));

    const supported = kvm.supportedCpuid();
    for (let i = 0; i < cfg.cpus; i++) {
      const vcpu = vm.createVcpu(i);
      this.#vcpus.push(vcpu);
      vcpu.setCpuid(buildVcpuCpuid(supported, i, cfg.cpus));
      configureLapicLints(vcpu);
    }
    const bsp = this.#vcpus[0]!;

    // Firmware tables: Linux finds ACPI through boot_params (and by scanning), older kernels the MP table.
    const acpi = writeAcpiTables(mem, { cpus: cfg.cpus, tablesAddr: ACPI_TABLES_START, ecamBase: PCI_ECAM_BASE, extraDsdtDevices: [pvpanicAml()] });
    writeMpTable(mem, { cpus: cfg.cpus });

    const hostParams = this.compat.kernelParams({ tscKhz: bsp.getTscKhz() });
    const cmdline = [cfg.cmdline, ...hostParams].filter((p) => p.length > 0).join(' ');
    const boot = loadGuest(mem, {
      kernelPath: cfg.kernelPath,
      ...(cfg.initrdPath !== undefined ? { initrdPath: cfg.initrdPath } : {}),
      cmdline,
      memBytes: cfg.memBytes,
      acpiRsdpAddr: acpi.rsdpAddr,
    });
    log.debug(`loaded ${boot.kind} guest, entry 0x${boot.entry.toString(16)}, cmdline: ${cmdline}`);
    for (const vcpu of this.#vcpus) vcpu.setMsrs(boot.msrs);
    // The BSP starts at the kernel entry; APs wait for INIT/SIPI from it. Keep KVM's APIC base (BSP flag).
    bsp.setSregs({ ...boot.sregs, apicBase: bsp.getSregs().apicBase });
    bsp.setRegs(boot.regs);
    bsp.setFpu(boot.fpu);

    this.#legacy = attachLegacyDevices(this.devices, vm, {
      memBytes: cfg.memBytes,
      testDevices: cfg.testDevices ?? false,
      debugExit: cfg.debugExit ?? false,
      serialInput: cfg.console !== 'virtio',
      onExit: (status, reason, clean) => this.shutdown(status, reason, clean),
      guestProtocol: cfg.guestProtocol ? {
        onInitStart: () => mark('guest-init'),
        onExitStatus: (status) => { this.#guestExitStatus = status; },
      } : null,
    });
    this.devices.addPio(ACPI_SLEEP_CONTROL_PORT, 2, 'acpi sleep control', new AcpiSleepControl({
      onPowerOff: () => this.shutdown(ExitStatus.POWEROFF, 'guest powered off (ACPI S5)'),
      onReset: () => this.shutdown(ExitStatus.POWEROFF, 'guest reset (ACPI reset register)'),
    }));
    this.#pci = new PciDevices(vm, this.devices, () => this.shutdown(ExitStatus.POWEROFF, 'guest reset (PCI reset control 0xCF9)'));
    this.devices.addPio(PVPANIC_PORT, 1, 'pvpanic', new Pvpanic({
      onPanic: (event) => this.shutdown(ExitStatus.GUEST_PANIC, event === 'panicked' ? 'guest kernel panicked' : 'guest kernel crashed (crash kernel loaded)'),
    }));
  }

  /** One virtio-pci function per configured device, each with its device thread. */
  async #attachVirtio(): Promise<void> {
    const cfg = this.config;
    const pci = this.#pci!;
    const mem = this.#mem!;
    for (const disk of cfg.disks ?? []) {
      await pci.add({ type: 'blk', path: disk.path, readOnly: disk.readOnly, ...(disk.serial !== undefined ? { serial: disk.serial } : {}) }, mem, this.devices);
    }
    if (cfg.rng) await pci.add({ type: 'rng' }, mem, this.devices);
    if (cfg.console === 'virtio') {
      const legacy = this.#legacy!;
      const output = legacy.guestOutput();
      // Flow control: the device's window is returned once stdout has taken the bytes.
      const fn = await pci.add({ type: 'console' }, mem, this.devices, (bytes, sent) => {
        for (const b of bytes) output(b);
        legacy.console.whenOutputDrained(sent);
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
      legacy.console.attach(sink);
    }
  }

  #start(): void {
    const mailboxes = this.#threads.map(() => createMailbox());
    this.#mailbox = new MailboxServer(mailboxes, this.devices.handleAccess, (err) => this.#deviceErrors.error(`device error: ${(err as Error).message}`));
    this.#mailbox.start();
    const shared = this.#mem!.shareable();
    const claimedPorts = this.devices.claimedPorts();
    const mmioRanges = this.devices.mmioRanges();
    this.#threads.forEach((t, i) => {
      t.start(this.#vcpus[i]!, { memory: shared, mailbox: mailboxes[i]!, vmFd: this.#vm!.fd, serial: this.#legacy?.serial.shared ?? null, rtc: this.#legacy?.rtc.shared ?? null, claimedPorts, mmioRanges, debugLog: log.enabled('debug'), hostMode: this.compat.mode });
    });
  }

  /** Guest-triggerable lines (unclaimed I/O, emulation, device errors) are rate limited per source. */
  readonly #deviceErrors = log.rateLimited('device errors');
  readonly #vcpuLogs = new Map<number, log.SourceLogger>();
  #vcpuLog(id: number): log.SourceLogger {
    let l = this.#vcpuLogs.get(id);
    if (l === undefined) this.#vcpuLogs.set(id, (l = log.rateLimited(`vCPU ${id}`)));
    return l;
  }

  #onVcpuMessage(msg: VcpuThreadMessage): void {
    switch (msg.type) {
      case 'exit':
        this.shutdown(msg.status, msg.reason);
        break;
      case 'log':
        this.#vcpuLog(msg.id).log(msg.level, `vCPU ${msg.id}: ${msg.message}`);
        break;
      case 'ready':
      case 'stopped':
        break;
    }
  }

  #fail(reason: string): void {
    this.shutdown(ExitStatus.ERROR, reason);
  }

  #watchSignals(): void {
    const on = (sig: NodeJS.Signals, status: number): void => {
      const handler = (): void => this.shutdown(status, `received ${sig}`);
      process.on(sig, handler);
      this.#signalHandlers.push([sig, handler]);
    };
    on('SIGINT', ExitStatus.SIGINT);
    on('SIGTERM', ExitStatus.SIGTERM);
    on('SIGHUP', 129);
  }

  /** The one way a running VM ends; the first call wins. */
  shutdown(status: number, reason: string, clean = status === ExitStatus.POWEROFF): void {
    if (this.#ending) return;
    this.#ending = true;
    // What the vCPUs wrote to COM1 before this event reaches the console (and the kit's exit-status marker) first.
    this.#legacy?.serial.serviceSharedAccess();
    // A guest that ran a command and then powered off ends with the command's status.
    if (status === ExitStatus.POWEROFF && this.#guestExitStatus !== undefined) {
      this.#resolve({ status: this.#guestExitStatus, reason: `guest command exited with status ${this.#guestExitStatus}`, clean: true });
      return;
    }
    this.#resolve({ status, reason, clean });
  }

  /** Releases everything, in reverse order of construction; safe after a partial build. */
  async #teardown(): Promise<void> {
    for (const [sig, handler] of this.#signalHandlers) process.off(sig, handler);
    this.#signalHandlers = [];
    this.#mailbox?.close();
    await Promise.all(this.#threads.map((t) => t.stop()));
    this.#mailbox?.close(); // answer anything a vCPU sent while stopping
    await this.#pci?.close();
    this.#pci = undefined;
    this.#legacy?.close();
    log.setRawTerminal(false);
    removeKickHandler();
    for (const v of this.#vcpus) v.close();
    this.#vcpus = [];
    this.#vm?.close();
    this.#mem?.close();
    this.#kvm?.close();
    this.#vm = undefined;
    this.#mem = undefined;
    this.#kvm = undefined;
  }

  /** Exit counters per vCPU, for `--report-timing` and `tkvm stat`. */
  exitCounts(): Array<Record<string, number>> {
    return this.#threads.map((t) => t.control.counters());
  }

  /** Milliseconds from process start to the first KVM_RUN of any vCPU. */
  startToFirstRunMs(): number | null {
    const firsts = this.#threads.map((t) => t.control.firstRunEpochMs).filter((t) => t > 0);
    return firsts.length ? Math.min(...firsts) - performance.timeOrigin : null;
  }


  // --- VmController: what the control socket may ask of a running VM ---

  readonly #pause = new VmPause(this.#threads, () => this.#ending);

  get name(): string {
    return this.config.name ?? `guest-${process.pid}`;
  }

  info(): VmInfo {
    const state: VmState = this.#ending ? 'stopping' : this.#pause.paused ? 'paused' : 'running';
    return { name: this.name, pid: process.pid, state, cpus: this.config.cpus, memBytes: this.config.memBytes, uptimeMs: Date.now() - this.startedAt };
  }

  /**
   * Graceful: presses Ctrl-Alt-Del on the i8042 keyboard, which Linux turns
   * into a reboot (tkvm's default cmdline has reboot=k, so the VM ends), and
   * stops the VM anyway after `graceMs`. Forced: ends it at once.
   */
  async stop(force: boolean, graceMs = 10_000): Promise<void> {
    if (force || !this.#legacy) {
      this.shutdown(ExitStatus.POWEROFF, 'stopped by tkvm stop --force');
      return;
    }
    if (this.#pause.paused) await this.resume();
    this.#legacy.i8042.pressCtrlAltDel();
    const timer = setTimeout(() => {
      log.warn(`the guest did not power off within ${graceMs / 1000} s of tkvm stop: stopping it`);
      this.shutdown(ExitStatus.POWEROFF, 'stopped by tkvm stop after the grace period');
    }, graceMs);
    timer.unref();
  }

  /** Parks every vCPU outside KVM_RUN; idempotent. */
  async pause(): Promise<void> {
    await this.#pause.pause();
  }

  async resume(): Promise<void> {
    await this.#pause.resume();
  }

  /** Registers need the vCPU outside KVM_RUN (vCPU ioctls wait for it), so the VM is paused around the read. */
  async debug(): Promise<VcpuDebugInfo[]> {
    return this.#whilePaused(() => this.#vcpus.map((v) => vcpuDebugInfo(v, this.#mem!)));
  }

  async stats(): Promise<VmStats> {
    return {
      vcpus: this.#threads.map((t) => ({ id: t.id, exits: { ...t.control.counters() } })),
      devices: this.devices.stats(),
      rssBytes: process.memoryUsage.rss(),
    };
  }

  async injectNmi(cpu: number): Promise<void> {
    const vcpu = this.#vcpus[cpu];
    if (!vcpu) throw new TkvmError('ERR_BAD_VCPU', `no vCPU ${cpu} (this VM has ${this.#vcpus.length})`);
    await this.#whilePaused(() => vcpu.nmi());
  }

  /** Magic SysRq over the serial console: a break, then the key (drivers/tty/serial/serial_core.c). */
  async sendSysrq(key: string): Promise<void> {
    if (!/^[ -~]$/.test(key)) throw new TkvmError('ERR_BAD_SYSRQ', `SysRq key must be one printable character, not ${JSON.stringify(key)}`);
    this.#legacy?.serial.sendBreak();
    this.#legacy?.serial.enqueueInput(new TextEncoder().encode(key));
  }

  #whilePaused<T>(fn: () => T): Promise<T> {
    return this.#pause.whileParked(fn);
  }
}
