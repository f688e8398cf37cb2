/**
 * `tkvm sandbox [FLAGS] -- CMD [ARGS...]`: runs a host command in a
 * throwaway guest that sees the host's files (kvmtool's `lkvm sandbox`).
 * The default guest kernel boots with the host's root file system shared
 * read-only over virtio-9p as the command's root (tag `root`), tmpfs on
 * /tmp, /run and /var/tmp, and the current directory shared read-write at
 * the same path (tag `cwd`). CMD runs there with the caller's uid, gid and
 * groups and with PATH, HOME, TERM and LANG from the caller's environment;
 * its stdout and stderr reach tkvm's byte for byte (vmm/exec-streams.ts),
 * tkvm's stdin is its stdin, and tkvm exits with its status (10 if the
 * guest kernel panics). guest/init documents the kernel parameters this
 * builds (tkvm.exec, tkvm.root, tkvm.workdir, tkvm.user).
 */
import type { Command } from '../command.js';
import type { ShareConfig } from '../../vmm/config.js';
import { commandUsageError, parseCommandArgs } from '../args.js';
import { parseNics } from '../net-args.js';
import { parseShares } from '../share-args.js';
import { quoteForMessage } from '../quote.js';
import { DEFAULT_CMDLINE, DEFAULT_CPUS, DEFAULT_MEM_BYTES, parseCompat, parseCpus, parseLogLevel, parseMem, parseName, type RunRequest } from './run.js';

const SANDBOX_FLAGS = {
  cpus: { type: 'string' },
  mem: { type: 'string' },
  net: { type: 'string', multiple: true },
  port: { type: 'string', multiple: true },
  share: { type: 'string', multiple: true },
  name: { type: 'string' },
  compat: { type: 'string' },
  'log-level': { type: 'string' },
  'report-timing': { type: 'boolean' },
} as const;

/** The 9p tags of the two shares the sandbox makes. */
export const ROOT_TAG = 'root';
export const CWD_TAG = 'cwd';
/** The environment variables the command gets from the caller (when set). */
export const SANDBOX_ENV = ['PATH', 'HOME', 'TERM', 'LANG'] as const;

export const SANDBOX_USAGE = `Usage: tkvm sandbox [OPTIONS] -- CMD [ARGS...]

Runs CMD in a throwaway VM of the default guest kernel whose root file
system is this host's, read-only (virtio-9p), with tmpfs on /tmp, /run and
/var/tmp, and the current directory shared read-write at the same path.
CMD runs there as you (uid, gid, groups) with PATH, HOME, TERM and LANG
from your environment. Its stdout and stderr are tkvm's, byte for byte;
tkvm's stdin is its stdin; tkvm exits with its status (10 if the guest
kernel panics). Guest console messages go to stderr.

Options:
  --cpus N             number of vCPUs (default: ${DEFAULT_CPUS})
  --mem SIZE           guest RAM, binary units (default: 512M)
  --net user[,mac=MAC][,dns=on|off] | tap[=IFNAME][,mac=MAC] | none
                       NICs as for tkvm run (default: one user-mode NIC)
  --port [HOSTADDR:]HOSTPORT:GUESTPORT[/tcp|/udp]
                       forward a host port through the first user-mode NIC
  --share HOSTDIR[,tag=TAG][,ro]
                       also share HOSTDIR over virtio-9p, mounted at the same
                       path in the sandbox (read-write unless ro); repeatable
  --name NAME          VM name for tkvm list/stop/... (default: guest-PID)
  --log-level LEVEL    error, warn, info or debug
  --compat MODE        auto, none or pvm (see docs/pvm.md)
  --report-timing      print a JSON timing and exit report on stderr
  -h, --help           show this help`;

export interface SandboxRequest {
  /** What to run (a RunRequest without a kernel: the default guest kit). */
  run: RunRequest;
  /** CMD and its arguments. */
  argv: string[];
}

/** The caller's identity and place, which the sandbox takes over. */
export interface SandboxCaller {
  cwd: string;
  uid: number;
  gid: number;
  groups: readonly number[];
  env: NodeJS.ProcessEnv;
}

export function currentCaller(): SandboxCaller {
  return {
    cwd: process.cwd(),
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    groups: process.getgroups?.() ?? [],
    env: process.env,
  };
}

/** Parses `tkvm sandbox` arguments; throws UsageError (exit 2). */
export function parseSandboxArgs(argv: readonly string[], caller: SandboxCaller): SandboxRequest {
  const usage = (problem: string) => commandUsageError('sandbox', problem);
  const split = argv.indexOf('--');
  if (split < 0) throw usage(argv.length === 0 ? 'needs a command: tkvm sandbox -- CMD [ARGS...]' : 'put the command after --: tkvm sandbox [OPTIONS] -- CMD [ARGS...]');
  const command = argv.slice(split + 1);
  if (command.length === 0 || command[0] === '') throw usage('needs a command after --');
  const { flags } = parseCommandArgs('sandbox', argv.slice(0, split), SANDBOX_FLAGS);
  const shares: ShareConfig[] = [{ hostPath: '/', tag: ROOT_TAG, readOnly: true }];
  // At / the whole root would become writable: the current directory is then only read.
  if (caller.cwd !== '/') shares.push({ hostPath: caller.cwd, tag: CWD_TAG, readOnly: false });
  const extra = parseShares(flags.share ?? [], usage, caller.cwd);
  for (const share of extra) {
    if (share.tag === ROOT_TAG || share.tag === CWD_TAG) throw usage(`--share tag ${quoteForMessage(share.tag)} is the sandbox's own; give the share another tag=`);
    if (share.hostPath === '/') throw usage('--share / would make the host root writable in the sandbox');
  }
  shares.push(...extra);
  const run: RunRequest = {
    kernelPath: undefined,
    initrdPath: undefined,
    exec: sandboxCommand(command, caller),
    cmdline: DEFAULT_CMDLINE,
    cpus: flags.cpus === undefined ? DEFAULT_CPUS : parseCpus(flags.cpus, usage),
    memBytes: flags.mem === undefined ? DEFAULT_MEM_BYTES : parseMem(flags.mem, usage),
    name: flags.name === undefined ? undefined : parseName(flags.name, usage),
    reportTiming: flags['report-timing'] === true,
    logLevel: flags['log-level'] === undefined ? undefined : parseLogLevel(flags['log-level'], usage),
    compat: flags.compat === undefined ? 'auto' : parseCompat(flags.compat, usage),
    nics: parseNics(flags.net ?? [], flags.port ?? [], true, usage),
    shares,
    sandbox: sandboxParams(caller, extra),
  };
  return { run, argv: command };
}

/** `'text'` for sh, with each ' written as '\''. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/**
 * The `sh -c` string the guest runs inside the sandbox root (with an empty
 * environment): the caller's variables, the working directory, then CMD
 * itself with exec, so that its status is the shell's.
 */
export function sandboxCommand(argv: readonly string[], caller: SandboxCaller): string {
  const assignments = SANDBOX_ENV.filter((name) => caller.env[name] !== undefined).map((name) => `${name}=${shellQuote(caller.env[name]!)}`);
  return [
    ...(assignments.length > 0 ? [`export ${assignments.join(' ')}`] : []),
    `cd -- ${shellQuote(caller.cwd)} || exit 126`,
    `exec ${argv.map(shellQuote).join(' ')}`,
  ].join('\n');
}

/** The init parameters for the sandbox root (guest/init), apart from tkvm.exec. */
export function sandboxParams(caller: SandboxCaller, extraShares: readonly ShareConfig[] = []): string[] {
  const params = [`tkvm.root=${ROOT_TAG}`];
  if (caller.cwd !== '/') params.push(`tkvm.workdir=${CWD_TAG},${Buffer.from(caller.cwd, 'utf8').toString('base64')}`);
  // --share: each mounted at its host path inside the root (guest/init, tkvm.bind).
  for (const share of extraShares) params.push(`tkvm.bind=${share.tag},${Buffer.from(share.hostPath, 'utf8').toString('base64')}`);
  if (caller.uid !== 0) {
    const groups = caller.groups.filter((g) => g !== caller.gid);
    params.push(`tkvm.user=${caller.uid}:${caller.gid}${groups.length > 0 ? `:${groups.join(',')}` : ''}`);
  }
  return params;
}

export const sandboxCommandDefinition: Command = {
  name: 'sandbox',
  summary: 'run a host command in a throwaway VM that sees the host\'s files',
  usage: SANDBOX_USAGE,
  async run(argv: string[]): Promise<number> {
    const { run } = parseSandboxArgs(argv, currentCaller());
    const { resolveVmConfig } = await import('./run.js');
    const config = await resolveVmConfig(run);
    const { runVm } = await import('../../control/run.js');
    return await runVm(config);
  },
};
