/**
 * `tkvm run`: boot one VM from a kernel image and run it in the foreground
 * until it powers off. Flag parsing is pure (`parseRunArgs`) and separate
 * from starting the VM, so every usage error is checked without KVM.
 */

import type { Command } from '../command.js';
import type { DiskConfig, NicConfig, VmConfig } from '../../vmm/config.js';
import { commandUsageError, parseCommandArgs } from '../args.js';
import { formatSize, parseSize } from '../size.js';
import { quoteForMessage } from '../quote.js';
import { UsageError } from '../../util/errors.js';
import { isValidVmName } from '../../control/paths.js';
import { parseNics } from '../net-args.js';
import { parseShares } from '../share-args.js';
import { resolve as pathResolve } from 'node:path';
import { readPackageVersion } from '../version.js';
import { mark } from '../../util/timing.js';

/**
 * Kernel command line when `--cmdline` is not given: the console on the
 * first serial port; a guest reboot resets through the keyboard controller
 * (reboot=k, which ends `tkvm run` with status 0), and a panic reboots after
 * one second (panic=1) instead of hanging.
 */
export const DEFAULT_CMDLINE = 'console=ttyS0 reboot=k panic=1';
export const DEFAULT_CPUS = 1;
export const DEFAULT_MEM_BYTES = 512 * 1024 * 1024;

/** KVM numbers vCPUs with 8-bit APIC IDs here; 255 is the broadcast ID. */
export const MAX_CPUS = 255;
export const MIN_MEM_BYTES = 16 * 1024 * 1024;
export const MAX_MEM_BYTES = 1024 * 1024 * 1024 * 1024;
export const PAGE_BYTES = 4096;

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

export const COMPAT_MODES = ['auto', 'none', 'pvm'] as const;

/** What `tkvm run` was asked for; kernelPath is absent when the default guest kit is meant. */
export type RunRequest = Omit<VmConfig, 'kernelPath'> & {
  kernelPath: string | undefined;
  exec: string | undefined;
  /** Extra init parameters of `tkvm sandbox` (tkvm.root=..., see guest/init), after tkvm.exec. */
  sandbox?: string[];
};

const RUN_FLAGS = {
  kernel: { type: 'string' },
  exec: { type: 'string' },
  compat: { type: 'string' },
  disk: { type: 'string', multiple: true },
  net: { type: 'string', multiple: true },
  port: { type: 'string', multiple: true },
  share: { type: 'string', multiple: true },
  rng: { type: 'boolean' },
  console: { type: 'string' },
  initrd: { type: 'string' },
  cmdline: { type: 'string' },
  cpus: { type: 'string' },
  mem: { type: 'string' },
  name: { type: 'string' },
  'test-devices': { type: 'boolean' },
  'debug-exit': { type: 'boolean' },
  'report-timing': { type: 'boolean' },
  'log-level': { type: 'string' },
} as const;

/** `tkvm run --restore DIR`: the snapshot holds the VM; only these run-time flags go with it. */
const RESTORE_FLAGS = { ...RUN_FLAGS, restore: { type: 'string' } } as const;
const RESTORE_ALLOWED = new Set(['restore', 'name', 'report-timing', 'log-level']);

/** What `tkvm run --restore DIR` was asked for. */
export interface RestoreRequest {
  /** The snapshot directory, absolute. */
  dir: string;
  name: string | undefined;
  reportTiming: boolean;
  logLevel: LogLevel | undefined;
}

/** Whether argv asks for a restore (then parseRestoreArgs applies instead of parseRunArgs). */
export function isRestoreRequest(argv: readonly string[]): boolean {
  return argv.some((a) => a === '--restore' || a.startsWith('--restore='));
}

/** Turns `tkvm run --restore DIR ...` arguments into a RestoreRequest; throws UsageError (exit 2). */
export function parseRestoreArgs(argv: readonly string[], cwd = process.cwd()): RestoreRequest {
  const { flags } = parseCommandArgs('run', argv, RESTORE_FLAGS);
  const usage = (problem: string): UsageError => commandUsageError('run', problem);
  for (const flag of Object.keys(flags)) {
    if (!RESTORE_ALLOWED.has(flag)) throw usage(`--${flag} cannot be used with --restore: the snapshot holds the VM's configuration`);
  }
  const dir = flags.restore;
  if (dir === undefined || dir === '') throw usage('--restore needs a snapshot directory');
  return {
    dir: pathResolve(cwd, dir),
    name: flags.name === undefined ? undefined : parseName(flags.name, usage),
    reportTiming: flags['report-timing'] === true,
    logLevel: flags['log-level'] === undefined ? undefined : parseLogLevel(flags['log-level'], usage),
  };
}

export const RUN_USAGE = `Usage: tkvm run [--kernel FILE] [OPTIONS]

Boots a kernel directly in 64-bit mode (no firmware) and runs the VM in the
foreground, with the guest's serial console on this terminal. Without
--kernel it boots the default guest (a small Linux with busybox), building
it first with tkvm setup if needed.

Options:
  --kernel FILE        kernel to boot: a bzImage, an ELF vmlinux or a
                       freestanding test-guest ELF (default: the guest kit)
  --initrd FILE        initial ramdisk to load for the kernel
  --exec CMD           run CMD under sh -c in the default guest, power off,
                       and exit with CMD's status; CMD's stdout and stderr
                       reach tkvm's byte for byte, tkvm's stdin is its stdin,
                       and the guest console goes to stderr
  --cmdline STRING     kernel command line
                       (default: "${DEFAULT_CMDLINE}")
  --disk PATH[,ro][,serial=ID]
                       add a virtio-blk disk backed by a raw image file or a
                       block device (repeatable; ro: read-only; serial: the
                       ID the guest reads, at most 20 bytes)
  --net user[,mac=MAC][,dns=on|off] | tap[=IFNAME][,mac=MAC][,ip=A.B.C.D/N[,gw=A.B.C.D]] | none
                       add a virtio-net NIC (repeatable): user-mode
                       networking through passt, or a TAP device; none: no
                       NIC (default: one user-mode NIC for the default guest
                       kit, none with --kernel); ip=, gw=: a static address
                       the default guest kit's init sets instead of DHCP
  --port [HOSTADDR:]HOSTPORT:GUESTPORT[/tcp|/udp]
                       forward a host port to the guest through the first
                       user-mode NIC (repeatable; HOSTADDR defaults to
                       127.0.0.1, the protocol to tcp)
  --share HOSTDIR[,tag=TAG][,ro]
                       share a host directory over virtio-9p (repeatable;
                       tag: the mount tag, default the directory's base name;
                       ro: every change fails with EROFS); the default guest
                       mounts it at /mnt/TAG
  --rng                add a virtio-rng device fed from the host's getrandom
  --console DEVICE     guest console: serial (COM1, ttyS0) or virtio (hvc0)
                       (default: serial)
  --cpus N             number of vCPUs, 1 to ${MAX_CPUS} (default: ${DEFAULT_CPUS})
  --mem SIZE           guest RAM, binary units: 512M, 2G, 1536MiB; at least
                       16M, at most 1T, a multiple of 4K (default: 512M)
  --name NAME          VM name for tkvm list/stop/...: letters, digits, '.',
                       '_' and '-', at most 64 (default: guest-PID)
  --test-devices       add the devices the integration-test guests use
                       (implies --debug-exit)
  --debug-exit         add the debug-exit port 0x501: a guest write of V ends
                       tkvm with status (V << 1) | 1
  --report-timing      print a JSON timing and exit report on stderr at exit
  --log-level LEVEL    error, warn, info or debug (default: $TKVM_LOG, or warn)
  --compat MODE        host compatibility: auto (detect a PVM host), none or
                       pvm (default: auto); see docs/pvm.md
  --restore DIR        start from the snapshot in DIR (tkvm snapshot) instead
                       of booting; only --name, --report-timing and
                       --log-level may go with it (docs/snapshot.md)
  -h, --help           show this help

Console: Ctrl-A x quits, Ctrl-A Ctrl-A sends a literal Ctrl-A.`;

/** Turns `tkvm run` arguments into a RunRequest; throws UsageError (exit 2). */
export function parseRunArgs(argv: readonly string[]): RunRequest {
  const { flags } = parseCommandArgs('run', argv, RUN_FLAGS);
  const usage = (problem: string): UsageError => commandUsageError('run', problem);

  const kernelPath = flags.kernel;
  if (kernelPath === '') throw usage('--kernel needs a file name, got an empty string');
  if (flags.initrd === '') throw usage('--initrd needs a file name, got an empty string');
  if (flags.exec === '') throw usage('--exec needs a command, got an empty string');
  const nics = parseNics(flags.net ?? [], flags.port ?? [], kernelPath === undefined, usage);
  if (kernelPath !== undefined && nics.some((nic) => nic.ip !== undefined)) {
    throw usage('--net ip= is for the default guest kit (its init sets the address); a --kernel guest configures its own network');
  }

  return {
    kernelPath,
    exec: flags.exec,
    initrdPath: flags.initrd,
    cmdline: flags.cmdline ?? DEFAULT_CMDLINE,
    cpus: flags.cpus === undefined ? DEFAULT_CPUS : parseCpus(flags.cpus, usage),
    memBytes: flags.mem === undefined ? DEFAULT_MEM_BYTES : parseMem(flags.mem, usage),
    name: flags.name === undefined ? undefined : parseName(flags.name, usage),
    testDevices: flags['test-devices'] === true,
    debugExit: flags['debug-exit'] === true || flags['test-devices'] === true,
    reportTiming: flags['report-timing'] === true,
    // Left unset when not given, so that the VMM's default ($TKVM_LOG) applies.
    logLevel: flags['log-level'] === undefined ? undefined : parseLogLevel(flags['log-level'], usage),
    compat: flags.compat === undefined ? 'auto' : parseCompat(flags.compat, usage),
    disks: (flags.disk ?? []).map((d) => parseDisk(d, usage)),
    // The default NIC is the default guest kit's: test guests (--kernel) get none unless asked.
    nics,
    shares: parseShares(flags.share ?? [], usage),
    rng: flags.rng === true,
    console: flags.console === undefined ? 'serial' : parseConsole(flags.console, usage),
  };
}

/** `PATH[,ro][,serial=ID]`; commas in PATH are not supported (as in QEMU's -drive, write them with a symlink). */
export function parseDisk(text: string, usage: UsageErrorFactory): DiskConfig {
  const [path, ...options] = text.split(',');
  if (!path) throw usage(`--disk needs a path, got ${quoteForMessage(text)}`);
  const disk: DiskConfig = { path, readOnly: false };
  for (const option of options) {
    if (option === 'ro') disk.readOnly = true;
    else if (option === 'rw') disk.readOnly = false;
    else if (option.startsWith('serial=')) {
      const serial = option.slice('serial='.length);
      if (serial.length === 0 || Buffer.byteLength(serial) > 20 || !/^[\x21-\x7e]+$/.test(serial)) {
        throw usage(`--disk serial must be 1 to 20 printable characters, got ${quoteForMessage(serial)}`);
      }
      disk.serial = serial;
    } else throw usage(`--disk option ${quoteForMessage(option)} is not one of ro, rw, serial=ID`);
  }
  return disk;
}

function parseConsole(text: string, usage: UsageErrorFactory): 'serial' | 'virtio' {
  if (text === 'serial' || text === 'virtio') return text;
  throw usage(`--console must be serial or virtio, got ${quoteForMessage(text)}`);
}

export function parseCompat(text: string, usage: UsageErrorFactory): (typeof COMPAT_MODES)[number] {
  const mode = COMPAT_MODES.find((candidate) => candidate === text);
  if (mode === undefined) throw usage(`--compat must be one of ${COMPAT_MODES.join(', ')}, got ${quoteForMessage(text)}`);
  return mode;
}

/**
 * The kernel command line for a request: `--exec CMD` travels to the
 * default guest's init as tkvm.exec=<base64> (guest/init decodes it), with
 * `quiet` so that only the command's output reaches the terminal.
 */
export function guestCmdline(request: RunRequest): string {
  const base = request.console === 'virtio' && request.cmdline === DEFAULT_CMDLINE ? DEFAULT_CMDLINE.replace('console=ttyS0', 'console=hvc0') : request.cmdline;
  const cmdline = [base, ...staticIpParameters(request.nics ?? [])].filter((p) => p.length > 0).join(' ');
  if (request.exec === undefined) return cmdline;
  const encoded = Buffer.from(request.exec, 'utf8').toString('base64');
  return [cmdline, 'quiet', `tkvm.exec=${encoded}`, ...(request.sandbox ?? [])].filter((p) => p.length > 0).join(' ');
}

/**
 * `tkvm.ip=ethN,A.B.C.D/PREFIX[,GATEWAY]` for each NIC given `ip=`: the
 * default guest's init sets that address instead of running DHCP. The
 * Nth NIC is ethN-1 in the guest: virtio-net devices sit on the PCI bus in
 * --net order.
 */
export function staticIpParameters(nics: readonly NicConfig[]): string[] {
  return nics.flatMap((nic, index) => (nic.ip === undefined ? [] : [`tkvm.ip=eth${index},${nic.ip}${nic.gateway !== undefined ? `,${nic.gateway}` : ''}`]));
}

/** Resolves the default guest kit when no --kernel was given (building it if needed). */
export async function resolveVmConfig(request: RunRequest): Promise<VmConfig> {
  const { exec: _exec, sandbox: _sandbox, kernelPath, ...rest } = request;
  // --exec: the command's streams get their own device (vmm/exec-streams.ts).
  const base = { ...rest, cmdline: guestCmdline(request), ...(request.exec !== undefined ? { execStreams: true } : {}) };
  if (kernelPath !== undefined) return { ...base, kernelPath };
  const { ensureDefaultGuest } = await import('../../guest/default-guest.js');
  const guest = await ensureDefaultGuest();
  // The init's console protocol counts only for the kit (chosen by giving no --kernel).
  return { ...base, kernelPath: guest.kernel, initrdPath: request.initrdPath ?? guest.initrd, guestProtocol: true };
}

export type UsageErrorFactory = (problem: string) => UsageError;

export function parseCpus(text: string, usage: UsageErrorFactory): number {
  const cpus = /^\d{1,3}$/.test(text) ? Number(text) : Number.NaN;
  if (!(cpus >= 1 && cpus <= MAX_CPUS)) {
    throw usage(`--cpus must be a whole number from 1 to ${MAX_CPUS}, got ${quoteForMessage(text)}`);
  }
  return cpus;
}

export function parseMem(text: string, usage: UsageErrorFactory): number {
  let bytes: number;
  try {
    bytes = parseSize(text, '--mem');
  } catch (error) {
    if (error instanceof UsageError) throw usage(error.message);
    throw error;
  }
  if (bytes < MIN_MEM_BYTES) {
    throw usage(`--mem ${quoteForMessage(text)} is too small: the minimum is ${formatSize(MIN_MEM_BYTES)}`);
  }
  if (bytes > MAX_MEM_BYTES) {
    throw usage(`--mem ${quoteForMessage(text)} is too large: the maximum is ${formatSize(MAX_MEM_BYTES)}`);
  }
  if (bytes % PAGE_BYTES !== 0) {
    throw usage(`--mem ${quoteForMessage(text)} (${bytes} bytes) is not a multiple of the 4 KiB page size`);
  }
  return bytes;
}

/** VM names become control-socket file names (src/control/paths.ts). */
export function parseName(text: string, usage: UsageErrorFactory): string {
  if (!isValidVmName(text)) {
    throw usage(
      `--name ${quoteForMessage(text)} is not a valid VM name: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return text;
}

export function parseLogLevel(text: string, usage: UsageErrorFactory): LogLevel {
  const level = LOG_LEVELS.find((candidate) => candidate === text);
  if (level === undefined) {
    throw usage(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${quoteForMessage(text)}`);
  }
  return level;
}

export const runCommand: Command = {
  name: 'run',
  summary: 'boot a kernel or test guest and run it in the foreground',
  usage: RUN_USAGE,
  async run(argv: string[]): Promise<number> {
    if (isRestoreRequest(argv)) return runRestore(parseRestoreArgs(argv));
    const request = parseRunArgs(argv);
    if (request.kernelPath !== undefined) {
      // Start the vCPU threads while the VMM loads (skipped while a guest kit may still need building).
      const { prespawnVcpuWorkers } = await import('../../vmm/vcpu-workers.js');
      prespawnVcpuWorkers(request.cpus);
    }
    try {
      const config = await resolveVmConfig(request);
      // Loaded on demand so that help, version and usage errors never load
      // the KVM and FFI modules.
      if (request.kernelPath !== undefined) {
        // Not while a vCPU thread is still loading koffi: see prespawnedVcpuWorkersLoaded.
        const { prespawnedVcpuWorkersLoaded } = await import('../../vmm/vcpu-workers.js');
        await prespawnedVcpuWorkersLoaded();
      }
      const { runVm } = await import('../../control/run.js');
      return await runVm(config);
    } finally {
      if (request.kernelPath !== undefined) {
        // Threads not adopted (a bad kernel file, say) must finish loading before the process exits.
        const { releasePrespawnedVcpuWorkers } = await import('../../vmm/vcpu-workers.js');
        await releasePrespawnedVcpuWorkers();
      }
    }
  },
};

/** Restores a snapshot: everything is checked before the VM is built (docs/snapshot.md). */
async function runRestore(request: RestoreRequest): Promise<number> {
  const { loadSnapshot } = await import('../../vmm/snapshot/restore.js');
  mark('restore-start');
  const snapshot = loadSnapshot(request.dir, { tkvmVersion: readPackageVersion() });
  mark('snapshot-checked');
  const { prespawnVcpuWorkers, prespawnedVcpuWorkersLoaded, releasePrespawnedVcpuWorkers } = await import('../../vmm/vcpu-workers.js');
  prespawnVcpuWorkers(snapshot.config.cpus);
  try {
    await prespawnedVcpuWorkersLoaded();
    const config: VmConfig = {
      ...snapshot.config,
      ...(request.name !== undefined ? { name: request.name } : {}),
      reportTiming: request.reportTiming,
      ...(request.logLevel !== undefined ? { logLevel: request.logLevel } : {}),
    };
    const { runVm } = await import('../../control/run.js');
    return await runVm(config, { restore: snapshot });
  } finally {
    await releasePrespawnedVcpuWorkers();
  }
}
