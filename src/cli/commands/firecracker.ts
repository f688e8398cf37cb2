/**
 * `tkvm firecracker [FLAGS]`, also run when tkvm is invoked through a link
 * named `firecracker` (as busybox applets are): Firecracker's command line
 * (src/firecracker/src/main.rs in Firecracker v1.16) in front of the
 * Firecracker-compatible API (src/api). It serves the API on --api-sock,
 * boots --config-file at once if given, and exits with the VM's status
 * when the VM ends.
 */
import { readFileSync } from 'node:fs';
import type { Command } from '../command.js';
import { commandUsageError, parseCommandArgs } from '../args.js';
import { quoteForMessage } from '../quote.js';
import { readPackageVersion } from '../version.js';
import { TkvmError, UsageError } from '../../util/errors.js';
import * as log from '../../util/log.js';

export const DEFAULT_API_SOCK = '/run/firecracker.socket';

const FLAGS = {
  'api-sock': { type: 'string' },
  id: { type: 'string' },
  'config-file': { type: 'string' },
  'no-api': { type: 'boolean' },
  'boot-timer': { type: 'boolean' },
  'http-api-max-payload-size': { type: 'string' },
  level: { type: 'string' },
  'log-path': { type: 'string' },
  'metrics-path': { type: 'string' },
  metadata: { type: 'string' },
  version: { type: 'boolean' },
  // tkvm's own, for the test guests:
  'debug-exit': { type: 'boolean' },
  'test-devices': { type: 'boolean' },
  // Accepted and ignored (seccomp, the jailer's timing, logger cosmetics, PCI which tkvm always uses):
  'seccomp-filter': { type: 'string' },
  'no-seccomp': { type: 'boolean' },
  'start-time-us': { type: 'string' },
  'start-time-cpu-us': { type: 'string' },
  'parent-cpu-time-us': { type: 'string' },
  module: { type: 'string' },
  'show-level': { type: 'boolean' },
  'show-log-origin': { type: 'boolean' },
  'mmds-size-limit': { type: 'string' },
  'enable-pci': { type: 'boolean' },
} as const;

export const FIRECRACKER_USAGE = `Usage: tkvm firecracker [OPTIONS]   (or tkvm run through a link named firecracker)

Firecracker's command line and HTTP API (v1.16) over a UNIX socket, for
tools that drive Firecracker (firecracker-go-sdk, Kata Containers, flintlock).
See docs/api.md.

Options:
  --api-sock PATH        the API socket (default: ${DEFAULT_API_SOCK}); it must not exist
  --config-file FILE     configure every resource from FILE (JSON, the shape of
                         GET /vm/config) and start the VM at once
  --no-api               serve no API (needs --config-file)
  --id ID                the instance ID (GET /); also the VM name for tkvm
                         list/stop when given (default: anonymous-instance,
                         VM name guest-PID)
  --http-api-max-payload-size BYTES
                         largest request body (default: 51200)
  --level LEVEL          log level: Error, Warning, Info, Debug, Trace or Off
  --log-path FILE        append log lines to FILE (an existing file or FIFO)
  --metrics-path FILE    append metrics lines to FILE (an existing file or FIFO)
  --metadata FILE        MMDS contents (JSON); checked, but tkvm has no MMDS:
                         the guest cannot read them (a warning says so)
  --boot-timer           accepted; tkvm has no boot-timer device (a warning says so)
  --version              print the Firecracker version tkvm follows, then tkvm's
  --debug-exit           (tkvm) add the debug-exit port 0x501 the test guests end through
  --test-devices         (tkvm) add the test guests' echo devices (implies --debug-exit)

Accepted and ignored: --seccomp-filter FILE, --no-seccomp, --start-time-us,
--start-time-cpu-us, --parent-cpu-time-us, --module, --show-level,
--show-log-origin, --mmds-size-limit, --enable-pci (tkvm's virtio devices are
always PCI).`;

const usage = (problem: string): UsageError => commandUsageError('firecracker', problem);

const FIRECRACKER_LEVELS = ['error', 'warning', 'info', 'debug', 'trace', 'off'];

/** Firecracker's instance IDs: 1 to 64 ASCII letters, digits and '-'. */
const INSTANCE_ID = /^[A-Za-z0-9-]{1,64}$/;

export interface FirecrackerRequest {
  apiSock: string | undefined;
  id: string | undefined;
  configFile: string | undefined;
  maxPayloadBytes: number;
  level: string | undefined;
  logPath: string | undefined;
  metricsPath: string | undefined;
  metadata: string | undefined;
  bootTimer: boolean;
  version: boolean;
  debugExit: boolean;
  testDevices: boolean;
}

/** Turns the flags into a request; throws UsageError (exit 2). */
export function parseFirecrackerArgs(argv: readonly string[]): FirecrackerRequest {
  const { flags } = parseCommandArgs('firecracker', argv, FLAGS);
  if (flags['no-api'] && flags['config-file'] === undefined) throw usage('--no-api needs --config-file');
  if (flags['no-api'] && flags['api-sock'] !== undefined) throw usage('--no-api and --api-sock cannot be given together');
  if (flags['no-seccomp'] && flags['seccomp-filter'] !== undefined) throw usage('--no-seccomp and --seccomp-filter cannot be given together');
  const id = flags.id;
  if (id !== undefined && !INSTANCE_ID.test(id)) throw usage(`--id must be 1 to 64 letters, digits or '-', got ${quoteForMessage(id)}`);
  const level = flags.level;
  if (level !== undefined && !FIRECRACKER_LEVELS.includes(level.toLowerCase())) throw usage(`--level must be one of Error, Warning, Info, Debug, Trace, Off, got ${quoteForMessage(level)}`);
  for (const name of ['config-file', 'log-path', 'metrics-path', 'metadata', 'api-sock'] as const) {
    if (flags[name] === '') throw usage(`--${name} needs a file name, got an empty string`);
  }
  let maxPayloadBytes = 51_200;
  const payload = flags['http-api-max-payload-size'];
  if (payload !== undefined) {
    if (!/^\d{1,10}$/.test(payload) || Number(payload) < 1) throw usage(`--http-api-max-payload-size must be a whole number of bytes, at least 1, got ${quoteForMessage(payload)}`);
    maxPayloadBytes = Number(payload);
  }
  for (const name of ['start-time-us', 'start-time-cpu-us', 'parent-cpu-time-us', 'mmds-size-limit'] as const) {
    const value = flags[name];
    if (value !== undefined && !/^\d{1,20}$/.test(value)) throw usage(`--${name} must be a whole number, got ${quoteForMessage(value)}`);
  }
  return {
    apiSock: flags['no-api'] ? undefined : (flags['api-sock'] ?? DEFAULT_API_SOCK),
    id,
    configFile: flags['config-file'],
    maxPayloadBytes,
    level,
    logPath: flags['log-path'],
    metricsPath: flags['metrics-path'],
    metadata: flags.metadata,
    bootTimer: flags['boot-timer'] === true,
    version: flags.version === true,
    debugExit: flags['debug-exit'] === true || flags['test-devices'] === true,
    testDevices: flags['test-devices'] === true,
  };
}

/** `Firecracker v<semver>` for tools that parse it, then what this really is. */
export function firecrackerVersionText(apiVersion: string): string {
  return `Firecracker v${apiVersion}\ntkvm ${readPackageVersion()}: a KVM VMM in TypeScript that speaks Firecracker's API v${apiVersion} (not Firecracker)\n`;
}

/** Reads a JSON file for a flag; a bad file is a one-line error. */
function readJsonFile(path: string, flag: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TkvmError('ERR_CONFIG_FILE', `${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new TkvmError('ERR_CONFIG_FILE', `${flag} ${path}: not valid JSON: ${(err as Error).message}`);
  }
}

async function runFirecracker(request: FirecrackerRequest): Promise<number> {
  const { FIRECRACKER_API_VERSION } = await import('../../api/resources/vm-state.js');
  if (request.version) {
    process.stdout.write(firecrackerVersionText(FIRECRACKER_API_VERSION));
    return 0;
  }
  const { Instance, DEFAULT_INSTANCE_ID } = await import('../../api/instance.js');
  const { ApiServer } = await import('../../api/http-server.js');
  let resolveExit!: (status: number) => void;
  const exited = new Promise<number>((resolve) => { resolveExit = resolve; });
  const instance = new Instance({
    id: request.id ?? DEFAULT_INSTANCE_ID,
    vm: { name: request.id, debugExit: request.debugExit, testDevices: request.testDevices, console: 'inherit', handleSignals: true },
    onExit: (exit) => {
      if (exit.clean) log.info(exit.reason);
      else log.error(exit.reason);
      resolveExit(exit.status);
    },
  });
  // Before the VM runs, a signal ends the process (after it, the VM handles them and ends).
  const beforeBoot = (signal: NodeJS.Signals, status: number): (() => void) => {
    const handler = (): void => { if (!instance.started) resolveExit(status); };
    process.on(signal, handler);
    return () => process.off(signal, handler);
  };
  const unhook = [beforeBoot('SIGINT', 130), beforeBoot('SIGTERM', 143), beforeBoot('SIGHUP', 129)];
  let server: import('../../api/http-server.js').ApiServer | undefined;
  try {
    if (request.logPath !== undefined || request.level !== undefined) {
      instance.configureLogger({ ...(request.logPath !== undefined ? { log_path: request.logPath } : {}), ...(request.level !== undefined ? { level: request.level } : {}) });
    }
    if (request.metricsPath !== undefined) instance.configureMetrics({ metrics_path: request.metricsPath });
    if (request.metadata !== undefined) {
      const metadata = readJsonFile(request.metadata, '--metadata');
      if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) throw new TkvmError('ERR_CONFIG_FILE', `--metadata ${request.metadata}: must hold a JSON object`);
      log.warn(`tkvm has no MMDS: the metadata in ${request.metadata} is not served to the guest`);
    }
    if (request.bootTimer) log.warn('tkvm has no boot-timer device: --boot-timer is ignored');
    const config = request.configFile !== undefined ? readJsonFile(request.configFile, '--config-file') : undefined;
    if (config !== undefined) instance.applyConfigFile(config);
    if (request.apiSock !== undefined) server = await ApiServer.start({ socketPath: request.apiSock, instance, maxPayloadBytes: request.maxPayloadBytes });
    if (config !== undefined) await instance.start();
    return await exited;
  } finally {
    for (const off of unhook) off();
    await server?.close();
    instance.close();
  }
}

export const firecrackerCommand: Command = {
  name: 'firecracker',
  summary: "serve Firecracker's HTTP API and command line (for Firecracker tooling)",
  usage: FIRECRACKER_USAGE,
  run: (argv) => runFirecracker(parseFirecrackerArgs(argv)),
};
