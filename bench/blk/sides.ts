/**
 * The two sides bench/blk compares, each doing the same requests on the
 * same image: tkvm running the blk-bench guest (timed by the harness from
 * the guest's begin/end lines as they arrive on tkvm's stdout), and
 * host-io.c doing pread/pwrite (timed by itself with CLOCK_MONOTONIC).
 * Every run is checked; an invalid one throws BenchError.
 */
import { BenchError } from '../lib/errors.js';
import { describeEnd, lastLine, runTimed, type TimedRun } from '../lib/timed-spawn.js';
import { collectGuestReport, type GuestPass } from './guest-output.js';
import { runWithTimedLines, type StreamedRun } from '../lib/timed-lines.js';
import { type HostPass, parseHostIoOutput } from './host-output.js';

export type BlkMode = 'seqread' | 'seqwrite' | 'randread';
export const BLK_MODES: readonly BlkMode[] = ['seqread', 'seqwrite', 'randread'];

/** The guest ends with debug-exit 0x10: tkvm status (0x10 << 1) | 1. */
export const GUEST_EXIT_STATUS = 33;
/** Guest RAM: blk-bench needs RAM up to 32 MiB; the brief's 256M leaves room. */
export const GUEST_MEMORY = '256M';

/** One measurement: what both sides do. */
export interface RunSpec {
  mode: BlkMode;
  blockBytes: number;
  /** Requests per pass. */
  count: number;
  /** Requests in flight in the guest; host-io does one at a time but cycles through as many buffers. */
  depth: number;
  passes: number;
  seed: number;
}

/** The guest's command line for `spec` (parsed by blk-bench.c). */
export function guestCmdline(spec: RunSpec): string {
  return `mode=${spec.mode} bs=${spec.blockBytes} count=${spec.count} depth=${spec.depth} passes=${spec.passes} seed=${spec.seed}`;
}

/** host-io.c's arguments for `spec` on `image` (it cycles through `depth` buffers, as the guest does). */
export function hostIoArgs(spec: RunSpec, image: string): string[] {
  return [spec.mode, image, String(spec.blockBytes), String(spec.count), String(spec.passes), String(spec.seed), String(spec.depth)];
}


function describe(run: { status: number | null; signal: NodeJS.Signals | null; timedOut: boolean }): string {
  return describeEnd({ ...run, wallNs: 0, stdout: '', stderr: '' });
}

/** Checks that a side did every pass with the requested size. */
function checkPasses(what: string, spec: RunSpec, passes: ReadonlyArray<{ pass: number; requests: number; bytes: number }>): void {
  if (passes.length !== spec.passes) throw new BenchError(`${what}: reported ${passes.length} of ${spec.passes} passes`);
  for (const p of passes) {
    if (p.requests !== spec.count || p.bytes !== spec.count * spec.blockBytes) {
      throw new BenchError(`${what}: pass ${p.pass} did ${p.requests} requests / ${p.bytes} bytes, expected ${spec.count} / ${spec.count * spec.blockBytes}`);
    }
  }
}

/** `tkvm run` of the blk-bench guest; returns every pass (the last one is the measurement). */
export async function runTkvm(cliPath: string, guestPath: string, image: string, spec: RunSpec, timeoutMs: number): Promise<GuestPass[]> {
  const what = `tkvm ${spec.mode}`;
  const args = [
    cliPath, 'run', '--debug-exit', '--kernel', guestPath, '--mem', GUEST_MEMORY, '--disk', image, '--cmdline', guestCmdline(spec),
  ];
  let run: StreamedRun;
  try {
    run = await runWithTimedLines(process.execPath, args, timeoutMs);
  } catch (error) {
    throw new BenchError(`${what}: could not start node: ${error instanceof Error ? error.message : String(error)}`);
  }
  const report = collectGuestReport(run.lines);
  if (report.failure !== null) throw new BenchError(`${what}: guest failed: ${report.failure}`);
  if (run.status !== GUEST_EXIT_STATUS || !report.ok) {
    const detail = lastLine(run.stderr) || lastLine(run.lines.map((l) => l.line).join('\n')) || 'no output';
    throw new BenchError(`${what}: ${describe(run)}, expected ${GUEST_EXIT_STATUS} and "blk-bench ok": ${detail}`);
  }
  checkPasses(what, spec, report.passes);
  return report.passes;
}

/** host-io.c on the same image; returns every pass. */
export async function runHostIo(hostIoPath: string, image: string, spec: RunSpec, timeoutMs: number): Promise<HostPass[]> {
  const what = `host ${spec.mode}`;
  let run: TimedRun;
  try {
    run = await runTimed(hostIoPath, hostIoArgs(spec, image), timeoutMs);
  } catch (error) {
    throw new BenchError(`${what}: could not start ${hostIoPath}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (run.status !== 0) throw new BenchError(`${what}: ${describeEnd(run)}: ${lastLine(run.stderr) || 'no output'}`);
  const passes = parseHostIoOutput(run.stdout);
  checkPasses(what, spec, passes);
  return passes;
}
