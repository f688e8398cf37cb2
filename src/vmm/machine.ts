/**
 * One running virtual machine, from its first KVM_RUN to its exit: the
 * vCPU threads and their mailboxes, pause and resume, what the control
 * socket may ask, and the single shutdown path that every way of ending
 * goes through. builder.ts makes the parts it runs (as Firecracker splits
 * builder.rs from its Vmm); the runtime never constructs devices itself.
 */
import type { Vcpu } from '../kvm/vcpu.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { installKickHandler, removeKickHandler } from '../sys/signals.js';
import { TkvmError } from '../util/errors.js';
import * as log from '../util/log.js';
import { mark } from '../util/timing.js';
import { type VmConfig, ExitStatus } from './config.js';
import type { DeviceManager } from './device-manager.js';
import { MailboxServer, createMailbox } from './mailbox.js';
import { VcpuHandle } from './vcpu-handle.js';
import { VmPause } from './pause.js';
import type { VcpuThreadMessage } from './vcpu-thread.js';
import type { ConsoleAttachment, ConsoleOutputListener, ProfileResult, SnapshotResult, VmController, VmInfo, VcpuDebugInfo, VmStats, VmState } from './controller.js';
import { ConsoleHub } from './console-hub.js';
import { MAX_PROFILE_HZ, MAX_PROFILE_MS, profileVcpus } from './profiler.js';
import { vcpuDebugInfo } from './debug-info.js';
import { detectHostMode, hostCompat, type HostCompat } from './compat/index.js';
import { buildVm, VmParts } from './builder.js';
import { findPackage } from '../util/package-root.js';
import { takeSnapshot } from './snapshot/snapshot.js';
import { applySnapshot, type LoadedSnapshot } from './snapshot/restore.js';
import type { ConsoleIo } from './legacy.js';

/** How long exit waits for the guest command's last output to be written (a reader that stopped reading). */
const EXEC_DRAIN_TIMEOUT_MS = 10_000;

export interface MachineResult {
  status: number;
  reason: string;
  /** The guest ended the way it meant to (power off, debug-exit, its command's status), not by an error. */
  clean: boolean;
}

/** How a Machine meets its host process; the defaults are `tkvm run`'s. */
export interface MachineOptions {
  /** The guest console's streams (default: stdin and stdout with Ctrl-A escapes). */
  consoleIo?: ConsoleIo | undefined;
  /** SIGINT, SIGTERM and SIGHUP end the VM (default true); a library embedding the VMM leaves its host's signals alone. */
  handleSignals?: boolean;
  /** The snapshot this VM starts from instead of booting (tkvm run --restore). */
  restore?: LoadedSnapshot | undefined;
}

export class Machine implements VmController {
  readonly config: VmConfig;
  readonly startedAt = Date.now();
  /** What the builder made; empty until run() has built it, and again after teardown. */
  #parts = new VmParts();
  #threads: VcpuHandle[] = [];
  #mailbox: MailboxServer | undefined;
  #result: Promise<MachineResult>;
  #resolve!: (r: MachineResult) => void;
  #ending = false;
  /** What the default guest's init reported for `--exec` (TKVM_EXIT_STATUS). */
  #guestExitStatus: number | undefined;
  #signalHandlers: Array<[NodeJS.Signals, () => void]> = [];

  /** The VM's bus devices (ports, MMIO, stats). */
  get devices(): DeviceManager {
    return this.#parts.devices;
  }

  get #vmMem(): GuestMemory {
    const mem = this.#parts.mem;
    if (!mem) throw new TkvmError('ERR_VM_NOT_RUNNING', `VM ${this.name} is not built`);
    return mem;
  }

  /** Host quirks (PVM): kernel parameters and emulation-failure handling. */
  readonly compat: HostCompat;

  readonly #options: MachineOptions;

  constructor(config: VmConfig, options: MachineOptions = {}) {
    this.config = config;
    this.#options = options;
    this.compat = hostCompat(detectHostMode(config.compat ?? 'auto'));
    this.#result = new Promise((resolve) => { this.#resolve = resolve; });
  }

  /**
   * Builds everything and starts the vCPUs; resolves with how the VM ended.
   * vCPU threads are spawned first so their start-up overlaps the rest;
   * `prepare` (e.g. claiming the control socket) runs before the VM is built;
   * `started` is called once the vCPUs run (a build error throws before it).
   */
  async run(prepare?: () => Promise<void>, started?: () => void): Promise<MachineResult> {
    installKickHandler();
    for (let i = 0; i < this.config.cpus; i++) {
      this.#threads.push(new VcpuHandle(i, (m) => this.#onVcpuMessage(m), (e) => this.#fail(`vCPU ${i} thread crashed: ${e.message}`)));
    }
    try {
      mark('threads-spawned');
      await prepare?.(); // overlaps the vCPU threads' start-up
      mark('prepared');
      const restore = this.#options.restore;
      this.#parts = await buildVm(this.config, this.compat, {
        shutdown: (status, reason, clean) => this.shutdown(status, reason, clean),
        guestExitStatus: (status) => { this.#guestExitStatus = status; },
        consoleChunk: (chunk) => this.#console.publish(chunk),
      }, this.#options.consoleIo, restore ? { memoryFd: restore.memoryFd } : undefined);
      if (restore) {
        applySnapshot(this.#parts, restore);
        mark('restored');
      }
      // Operator log lines share the terminal with a raw-mode console: they need CR LF.
      log.setRawTerminal(this.#parts.legacy?.console.rawMode ?? false);
      mark('built');
    } catch (err) {
      await this.#teardown();
      throw err;
    }
    if (this.#options.handleSignals ?? true) this.#watchSignals();
    this.#start();
    mark('started');
    started?.();
    const result = await this.#result;
    await this.#teardown();
    return result;
  }

  #start(): void {
    const mailboxes = this.#threads.map(() => createMailbox());
    this.#mailbox = new MailboxServer(mailboxes, this.devices.handleAccess, (err) => this.#deviceErrors.error(`device error: ${(err as Error).message}`));
    this.#mailbox.start();
    const shared = this.#vmMem.shareable();
    const claimedPorts = this.devices.claimedPorts();
    const mmioRanges = this.devices.mmioRanges();
    const legacy = this.#parts.legacy;
    this.#threads.forEach((t, i) => {
      t.start(this.#parts.vcpus[i]!, { memory: shared, mailbox: mailboxes[i]!, vmFd: this.#parts.vm!.fd, serial: legacy?.serial.shared ?? null, rtc: legacy?.rtc.shared ?? null, claimedPorts, mmioRanges, debugLog: log.enabled('debug'), hostMode: this.compat.mode });
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
    this.#parts.legacy?.serial.serviceSharedAccess();
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
    // The guest command's output still in the rings reaches stdout and stderr before tkvm exits.
    const streams = this.#parts.execStreams;
    if (streams && !(await streams.finish(EXEC_DRAIN_TIMEOUT_MS))) {
      log.warn(`the guest command's output could not be drained within ${EXEC_DRAIN_TIMEOUT_MS / 1000} s; some of it may be lost`);
    }
    await this.#parts.release();
    log.setRawTerminal(false);
    removeKickHandler();
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
    if (force || !this.#parts.legacy) {
      this.shutdown(ExitStatus.POWEROFF, 'stopped by tkvm stop --force');
      return;
    }
    if (this.#pause.paused) await this.resume();
    this.#parts.legacy.i8042.pressCtrlAltDel();
    const timer = setTimeout(() => {
      log.warn(`the guest did not power off within ${graceMs / 1000} s of tkvm stop: stopping it`);
      this.shutdown(ExitStatus.POWEROFF, 'stopped by tkvm stop after the grace period');
    }, graceMs);
    timer.unref();
  }

  /** Presses Ctrl-Alt-Del on the i8042 keyboard once (Firecracker's SendCtrlAltDel); the guest decides what follows. */
  pressCtrlAltDel(): void {
    this.#parts.legacy?.i8042.pressCtrlAltDel();
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
    return this.#whilePaused(() => this.#parts.vcpus.map((v) => vcpuDebugInfo(v, this.#vmMem)));
  }

  async stats(): Promise<VmStats> {
    return {
      vcpus: this.#threads.map((t) => ({ id: t.id, exits: { ...t.control.counters() } })),
      devices: this.devices.stats(),
      rssBytes: process.memoryUsage.rss(),
    };
  }

  async injectNmi(cpu: number): Promise<void> {
    const vcpu: Vcpu | undefined = this.#parts.vcpus[cpu];
    if (!vcpu) throw new TkvmError('ERR_BAD_VCPU', `no vCPU ${cpu} (this VM has ${this.#parts.vcpus.length})`);
    await this.#whilePaused(() => vcpu.nmi());
  }

  /** Magic SysRq over the serial console: a break, then the key (drivers/tty/serial/serial_core.c). */
  async sendSysrq(key: string): Promise<void> {
    if (!/^[ -~]$/.test(key)) throw new TkvmError('ERR_BAD_SYSRQ', `SysRq key must be one printable character, not ${JSON.stringify(key)}`);
    this.#parts.legacy?.serial.sendBreak();
    this.#parts.legacy?.serial.enqueueInput(new TextEncoder().encode(key));
  }

  /** One profile at a time: two would take each other's samples. */
  #profiling = false;

  async profile(durationMs: number, frequencyHz: number): Promise<ProfileResult> {
    if (!(durationMs > 0 && durationMs <= MAX_PROFILE_MS)) throw new TkvmError('ERR_BAD_PROFILE', `profile duration must be 1 ms to ${MAX_PROFILE_MS / 1000} s`);
    if (!(frequencyHz >= 1 && frequencyHz <= MAX_PROFILE_HZ)) throw new TkvmError('ERR_BAD_PROFILE', `profile frequency must be 1 to ${MAX_PROFILE_HZ} Hz`);
    if (this.#profiling) throw new TkvmError('ERR_PROFILE_BUSY', `VM ${this.name} is already being profiled`);
    this.#profiling = true;
    try {
      return { kernelPath: this.config.kernelPath, ...(await profileVcpus(this.#threads, durationMs, frequencyHz)) };
    } finally {
      this.#profiling = false;
    }
  }

  /** Console output for control-socket clients: the recent ring, then live. */
  readonly #console = new ConsoleHub();

  attachConsole(listener: ConsoleOutputListener): ConsoleAttachment {
    return this.#console.attach(listener);
  }

  writeConsole(bytes: Uint8Array): number {
    return this.#parts.legacy?.console.injectInput(bytes) ?? 0;
  }

  #snapshotting = false;

  /**
   * Gives disk `index` (in VmConfig.disks order) a new backing file while
   * the VM runs (Firecracker's PATCH /drives/{id}): the device re-opens
   * `path` (the same file again reads its size anew), answers GET_ID with
   * `serial` when given, and tells the driver the new capacity through a
   * configuration change. A file that cannot be opened leaves the disk as
   * it was.
   */
  async replaceDisk(index: number, path: string, serial?: string): Promise<void> {
    if (this.#ending) throw new TkvmError('ERR_VM_NOT_RUNNING', `VM ${this.name} is stopping`);
    if (this.#snapshotting) throw new TkvmError('ERR_SNAPSHOT_BUSY', `VM ${this.name} is being snapshotted`);
    const pci = this.#parts.pci;
    const fn = pci?.functions.filter((f) => f.spec.type === 'blk')[index];
    const disk = this.config.disks?.[index];
    if (!pci || !fn || !disk) throw new TkvmError('ERR_BAD_DISK', `VM ${this.name} has no disk ${index}`);
    await pci.update(fn, { type: 'blk', path, ...(serial !== undefined ? { serial } : {}) });
    fn.spec = { ...fn.spec, path } as typeof fn.spec;
    disk.path = path;
    if (serial !== undefined) disk.serial = serial;
  }

  /**
   * Writes a snapshot of this VM to `dir` (docs/snapshot.md) with every
   * vCPU parked, then lets it run on (`resume`) or ends it (`stop`). A VM
   * the operator paused stays paused with `resume`.
   */
  async snapshot(dir: string, after: 'resume' | 'stop'): Promise<SnapshotResult> {
    if (this.#snapshotting) throw new TkvmError('ERR_SNAPSHOT_BUSY', `VM ${this.name} is already being snapshotted`);
    if (this.#ending) throw new TkvmError('ERR_VM_NOT_RUNNING', `VM ${this.name} is stopping`);
    this.#snapshotting = true;
    try {
      // To stop, the pause is the operator's: the guest never runs again after the snapshot.
      if (after === 'stop') await this.#pause.pause();
      const summary = await this.#whilePaused(() => takeSnapshot(this.#parts, this.config, dir, findPackage().version));
      if (after === 'stop') this.shutdown(ExitStatus.POWEROFF, `stopped after a snapshot to ${dir}`, true);
      const { memory } = summary;
      log.info(`snapshot of ${this.name} in ${dir}: ${memory.dataPages} of ${memory.touchedPages} touched pages written, ${summary.elapsedMs.toFixed(0)} ms`);
      return {
        dir: summary.dir, stateBytes: summary.stateBytes, memoryBytes: memory.totalBytes,
        touchedPages: memory.touchedPages, dataPages: memory.dataPages, elapsedMs: summary.elapsedMs,
      };
    } finally {
      this.#snapshotting = false;
    }
  }

  #whilePaused<T>(fn: () => T | Promise<T>): Promise<T> {
    return this.#pause.whileParked(fn);
  }
}
