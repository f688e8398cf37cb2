/**
 * bench/boot: time from process start to the guest's first user-space
 * instruction, split into VMM setup, kernel and init.
 *
 * - Default guest (tkvm setup): `tkvm run --exec true --report-timing`.
 *   tkvm's report gives the first KVM_RUN and the moment init's first
 *   action (printing TKVM_INIT_START) reached the console, both in ms since
 *   tkvm's process start; that marker is the first user-space output.
 * - Debian's cloud kernel (on PVM hosts by default, or with --debian): the
 *   harness stamps the console line "Run /init as init process" as it
 *   arrives, relative to the spawn of tkvm. On a PVM host that kernel has no
 *   system-call fix-up, so init's first system call kills it and the panic
 *   ends the run.
 * Ends with one JSON line on stdout.
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Benchmark } from '../lib/benchmark.js';
import { BenchError } from '../lib/errors.js';
import { hostInfo } from '../lib/host.js';
import { parseCount } from '../lib/options.js';
import { repoRoot } from '../lib/paths.js';
import { median, roundTo } from '../lib/stats.js';
import { runWithTimedLines, type StreamedRun } from '../lib/timed-lines.js';
import { debianCloudKernel } from './debian-kernel.js';

export const TARGET_MS = 150;

const USAGE = `usage: node dist/bench/main.js boot [--reps N] [--kernels A,B,...] [--debian | --no-debian] [--timeout SECONDS]

  --reps N         boots of the default guest (default 3); the Debian kernel boots once
  --kernels LIST   compare these kernels (bzImage or vmlinux) with the kit's initramfs:
                   each rep boots every kernel once, in turn, so that host load
                   hits them alike (default: the kit's kernel alone)
  --debian         also boot Debian's cloud kernel (default: only on PVM hosts)
  --no-debian      never boot it
  --timeout S      per boot (default 900)`;

export interface DefaultGuestBoot {
  vmmSetupMs: number;
  kernelMs: number;
  initMs: number;
  startToUserSpaceMs: number;
  /** CPU time of the whole tkvm process (user + system, every thread) for the run. */
  cpuMs: number | null;
}

interface TimingReport {
  startToFirstRunMs: number | null;
  marksMs: Record<string, number>;
  status: number;
  cpuMs?: number;
}

/** The tkvmTiming JSON line tkvm prints on stderr with --report-timing. */
export function parseTimingReport(stderr: string): TimingReport | null {
  const line = stderr.split('\n').reverse().find((l) => l.startsWith('{"tkvmTiming"'));
  if (!line) return null;
  try {
    return (JSON.parse(line) as { tkvmTiming: TimingReport }).tkvmTiming;
  } catch {
    return null;
  }
}

/** Phases of one default-guest boot; null if the report lacks the marks. */
export function defaultGuestPhases(report: TimingReport, wallMs: number): DefaultGuestBoot | null {
  const firstRun = report.startToFirstRunMs;
  const init = report.marksMs['guest-init'];
  if (firstRun === null || init === undefined) return null;
  return {
    vmmSetupMs: roundTo(firstRun, 1),
    kernelMs: roundTo(init - firstRun, 1),
    initMs: roundTo(Math.max(0, wallMs - init), 1),
    startToUserSpaceMs: roundTo(init, 1),
    cpuMs: report.cpuMs ?? null,
  };
}

function cli(): string {
  return path.join(repoRoot(), 'dist/tkvm/main.js');
}

/** One boot of the default guest, or of `kernel` with `initrd` (the same init). */
async function bootDefaultGuest(timeoutMs: number, kernel?: { kernel: string; initrd: string }): Promise<DefaultGuestBoot> {
  const started = process.hrtime.bigint();
  const files = kernel ? ['--kernel', kernel.kernel, '--initrd', kernel.initrd] : [];
  const run = await runWithTimedLines(process.execPath, [cli(), 'run', ...files, '--net', 'none', '--exec', 'true', '--report-timing'], timeoutMs);
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  check(run, 0, 'default guest');
  const parsed = parseTimingReport(run.stderr);
  // tkvm marks guest-init only for the kit it chose itself; with --kernel the
  // marker line's arrival (relative to the spawn, so VMM start-up included) stands in.
  const initLine = [...run.lines, ...run.stderrLines].find((l) => l.line.trim() === 'TKVM_INIT_START');
  const report = parsed && parsed.marksMs['guest-init'] === undefined && initLine
    ? { ...parsed, marksMs: { ...parsed.marksMs, 'guest-init': Number(initLine.atNs - started) / 1e6 } }
    : parsed;
  const phases = report && defaultGuestPhases(report, wallMs);
  if (!phases) throw new BenchError(`default guest: no timing report with a guest-init mark (is guest/init printing TKVM_INIT_START?): ${run.stderr.trim().split('\n').pop()}`);
  return phases;
}

async function bootDebian(kernel: string, initrd: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const started = process.hrtime.bigint();
  const run = await runWithTimedLines(process.execPath, [cli(), 'run', '--kernel', kernel, '--initrd', initrd, '--cmdline', 'console=ttyS0 reboot=k panic=1', '--report-timing'], timeoutMs);
  if (run.timedOut) throw new BenchError(`Debian cloud kernel: no result within ${timeoutMs / 1000} s`);
  const report = parseTimingReport(run.stderr);
  const initLine = run.lines.find((l) => l.line.includes('Run /init as init process'));
  const ms = (at: bigint): number => roundTo(Number(at - started) / 1e6, 1);
  return {
    kernel: path.basename(kernel),
    status: run.status,
    vmmSetupMs: report?.startToFirstRunMs === null || report === null ? null : roundTo(report.startToFirstRunMs, 1),
    startToInitMs: initLine ? ms(initLine.atNs) : null,
    reachedInit: initLine !== undefined,
    outcome: run.lines.some((l) => /segfault at|Attempted to kill init/.test(l.line)) ? 'init killed at its first system call (no PVM fix-up in this kernel)' : `exit status ${run.status}`,
  };
}

function check(run: StreamedRun, status: number, what: string): void {
  if (run.timedOut) throw new BenchError(`${what}: timed out`);
  if (run.status !== status) throw new BenchError(`${what}: tkvm exited with ${run.status}: ${run.stderr.trim().split('\n').slice(-3).join(' | ')}`);
}

export const bootBenchmark: Benchmark = {
  name: 'boot',
  summary: 'process start to the guest\'s first user-space instruction, per phase',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const { values } = parseArgs({ args: argv, options: { reps: { type: 'string' }, kernels: { type: 'string' }, debian: { type: 'boolean' }, 'no-debian': { type: 'boolean' }, timeout: { type: 'string' } }, strict: true });
    const reps = parseCount('--reps', values.reps, 3, 1, 100);
    const timeoutMs = parseCount('--timeout', values.timeout, 900, 1) * 1000;
    const host = hostInfo();
    const withDebian = values['no-debian'] ? false : values.debian ?? host.pvm;
    if (!existsSync(cli())) throw new BenchError(`${cli()} is missing: npm run build`);
    const { ensureDefaultGuest } = await import('../../src/guest/default-guest.js');
    const guest = await ensureDefaultGuest();
    const log = (line: string): void => { process.stderr.write(`bench boot: ${line}\n`); };
    const loadStart = loadavg()[0]!;

    const kernels = values.kernels?.split(',').filter((k) => k.length > 0) ?? [];
    for (const kernel of kernels) if (!existsSync(kernel)) throw new BenchError(`--kernels: ${kernel} does not exist`);
    const boots: DefaultGuestBoot[] = [];
    const byKernel = new Map<string, DefaultGuestBoot[]>(kernels.map((k) => [k, []]));
    for (let i = 0; i < reps; i++) {
      if (kernels.length === 0) {
        log(`default guest, boot ${i + 1}/${reps}`);
        boots.push(await bootDefaultGuest(timeoutMs));
        log(`  ${JSON.stringify(boots.at(-1))}`);
      }
      for (const kernel of kernels) {
        log(`${kernel}, boot ${i + 1}/${reps}`);
        const boot = await bootDefaultGuest(timeoutMs, { kernel, initrd: guest.initrd });
        byKernel.get(kernel)?.push(boot);
        log(`  ${JSON.stringify(boot)}`);
      }
    }
    const medianOf = (list: DefaultGuestBoot[], key: keyof DefaultGuestBoot): number | null => {
      const values = list.map((b) => b[key]).filter((v): v is number => v !== null);
      return values.length > 0 ? roundTo(median(values), 1) : null;
    };
    const med = (key: keyof DefaultGuestBoot): number | null => medianOf(boots, key);
    const comparison = kernels.length === 0 ? null : kernels.map((kernel) => {
      const list = byKernel.get(kernel) ?? [];
      return { kernel, startToUserSpaceMs: medianOf(list, 'startToUserSpaceMs'), kernelMs: medianOf(list, 'kernelMs'), cpuMs: medianOf(list, 'cpuMs'), reps: list };
    });
    let debian: Record<string, unknown> | null = null;
    if (withDebian) {
      log('Debian cloud kernel (slow on PVM hosts: its XZ decompressor alone is emulated)');
      debian = await bootDebian(debianCloudKernel(log), guest.initrd, timeoutMs);
    }
    const result = {
      bench: 'boot',
      defaultGuest: kernels.length > 0 ? null : {
        startToUserSpaceMs: med('startToUserSpaceMs'),
        cpuMs: med('cpuMs'),
        phases: { vmmSetupMs: med('vmmSetupMs'), kernelMs: med('kernelMs'), initMs: med('initMs') },
        reps: boots,
      },
      kernels: comparison,
      debianCloud: debian,
      target: { startToUserSpaceMs: TARGET_MS, appliesTo: 'hosts with VT-x/AMD-V (not PVM)' },
      host,
      loadAverage: { start: loadStart, end: loadavg()[0] },
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  },
};
