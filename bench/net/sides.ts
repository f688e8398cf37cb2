/**
 * The two sides bench/net compares, on one TAP in a network namespace the
 * harness made (namespace.ts): tkvm running the net-bench guest with
 * `--net tap=IFNAME` (timed by the harness from the guest's begin/end
 * lines as they arrive), and tap-loop.c doing the same writev/readv on the
 * same TAP (timed by itself). For RX both are fed by the same injector,
 * an AF_PACKET socket on the TAP's kernel side (tap-loop's own thread for
 * the C side, `tap-loop inject` for tkvm). Every run is checked; an
 * invalid one throws BenchError.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { BenchError } from '../lib/errors.js';
import { describeEnd, lastLine, runTimed } from '../lib/timed-spawn.js';
import { runWithTimedLines, type StreamedRun } from '../lib/timed-lines.js';
import { collectNetGuestReport, type GuestNetPass, type NetPass, parseTapLoopPasses } from './output.js';
import type { BenchNamespace } from './namespace.js';
import type { NetCase } from './summary.js';

/** The guest ends with debug-exit 0x10: tkvm status 33. */
export const GUEST_EXIT_STATUS = 33;
/** net-bench uses RAM up to 48 MiB. */
export const GUEST_MEMORY = '256M';

export interface RunSpec extends NetCase {
  passes: number;
  depth: number;
}

/** The guest's command line (parsed by net-bench.c). */
export function guestCmdline(spec: RunSpec): string {
  return `mode=${spec.direction} size=${spec.size} count=${spec.count} depth=${spec.depth} passes=${spec.passes}`;
}

/** tkvm's arguments for `spec` on TAP `tap`. */
export function tkvmArgs(cliPath: string, guestPath: string, tap: string, spec: RunSpec): string[] {
  return [cliPath, 'run', '--debug-exit', '--kernel', guestPath, '--mem', GUEST_MEMORY, '--net', `tap=${tap}`, '--cmdline', guestCmdline(spec)];
}

function checkPasses(what: string, spec: RunSpec, passes: readonly NetPass[]): void {
  if (passes.length !== spec.passes) throw new BenchError(`${what}: reported ${passes.length} of ${spec.passes} passes`);
  for (const p of passes) {
    if (p.frames !== spec.count || p.bytes !== spec.count * spec.size) {
      throw new BenchError(`${what}: pass ${p.pass} moved ${p.frames} frames / ${p.bytes} bytes, expected ${spec.count} / ${spec.count * spec.size}`);
    }
  }
}

/** tap-loop tx|rx on the TAP; returns every pass (the last one is the measurement). */
export async function runC(tapLoop: string, ns: BenchNamespace, spec: RunSpec, timeoutMs: number): Promise<NetPass[]> {
  const what = `C ${spec.direction}${spec.size}`;
  const run = await runTimed('ip', ['netns', 'exec', ns.name, tapLoop, spec.direction, ns.tap, String(spec.size), String(spec.count), String(spec.passes)], timeoutMs);
  if (run.status !== 0) throw new BenchError(`${what}: ${describeEnd(run)}: ${lastLine(run.stderr) || 'no output'}`);
  const passes = parseTapLoopPasses(run.stdout, spec.direction);
  checkPasses(what, spec, passes);
  return passes;
}


function stopInjector(injector: ChildProcess | null): Promise<void> {
  if (injector === null || injector.exitCode !== null || injector.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    injector.once('close', () => resolve());
    injector.kill('SIGTERM');
  });
}

/**
 * `tkvm run` of the net-bench guest on the TAP. For RX, the injector
 * starts when the guest prints "net-bench ready" and stops when tkvm has
 * exited. Returns every pass.
 */
export async function runTkvm(cliPath: string, guestPath: string, tapLoop: string, ns: BenchNamespace, spec: RunSpec, timeoutMs: number): Promise<GuestNetPass[]> {
  const what = `tkvm ${spec.direction}${spec.size}`;
  let injector: ChildProcess | null = null;
  let injectorError = '';
  let run: StreamedRun;
  try {
    run = await runWithTimedLines('ip', ['netns', 'exec', ns.name, process.execPath, ...tkvmArgs(cliPath, guestPath, ns.tap, spec)], timeoutMs, (line) => {
      if (spec.direction !== 'rx' || injector !== null || line.trim() !== 'net-bench ready') return;
      injector = spawn('ip', ['netns', 'exec', ns.name, tapLoop, 'inject', ns.tap, String(spec.size)], { stdio: ['ignore', 'ignore', 'pipe'] });
      injector.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        injectorError = (injectorError + chunk).slice(-4096);
      });
    });
  } finally {
    await stopInjector(injector);
  }
  const report = collectNetGuestReport(run.lines);
  if (run.status === 2 && /--net/.test(run.stderr)) {
    throw new BenchError(`${what}: tkvm run does not accept --net tap=${ns.tap} (no virtio-net in this build?): ${lastLine(run.stderr)}`);
  }
  if (report.failure !== null) throw new BenchError(`${what}: guest failed: ${report.failure}`);
  if (lastLine(injectorError)) throw new BenchError(`${what}: injector failed: ${lastLine(injectorError)}`);
  if (run.status !== GUEST_EXIT_STATUS || !report.ok) {
    const end = run.timedOut ? 'killed after timing out' : run.signal !== null ? `killed by ${run.signal}` : `exit status ${run.status}`;
    const detail = lastLine(run.stderr) || lastLine(run.lines.map((l) => l.line).join('\n')) || 'no output';
    throw new BenchError(`${what}: ${end}, expected ${GUEST_EXIT_STATUS} and "net-bench ok": ${detail}`);
  }
  checkPasses(what, spec, report.passes);
  return report.passes;
}
