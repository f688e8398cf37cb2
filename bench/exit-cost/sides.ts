/**
 * The two programs bench/exit-cost compares. Each runs the pio-loop guest
 * once with `count=N`, checks that the run did what was asked (debug-exit
 * status, the guest's `pio-loop done N` line, the reported exit counts)
 * and returns its timings; an invalid run throws BenchError.
 */
import { BenchError } from '../lib/errors.js';
import { describeEnd, lastLine, runTimed, type TimedRun } from '../lib/timed-spawn.js';
import { guestDoneCount, parseKvmLoopReport, parseTkvmTiming } from './reports.js';

export type SideName = 'c' | 'tkvm';

/**
 * Which exits the guest makes (its path= option): port 0x80, answered in
 * tkvm's vCPU thread; the test echo device, served on the main thread
 * through the mailbox; COM1, polled and written like a serial driver does.
 */
export type ExitPath = 'post' | 'echo' | 'uart';
export const EXIT_PATHS: readonly ExitPath[] = ['post', 'echo', 'uart'];

/** The guest ends by writing 0x10 to port 0x501: status (0x10 << 1) | 1. */
export const GUEST_EXIT_STATUS = (0x10 << 1) | 1;

/** Guest RAM for both sides, as tkvm's --mem spells it and kvm-loop.c hard-codes. */
export const GUEST_MEMORY = '64M';

export interface SideSample {
  /** Whole-process wall time measured by the harness, ns. */
  wallNs: number;
  /** The program's own first-KVM_RUN-to-end time, ns (C loop only). */
  selfRunLoopNs: number | null;
  /** Process start (C: main() entry) to the first KVM_RUN, ms; null if not reported. */
  startToFirstRunMs: number | null;
}

export interface Side {
  name: SideName;
  runGuest(count: number): Promise<SideSample>;
}

async function spawnOrExplain(what: string, command: string, args: string[], timeoutMs: number): Promise<TimedRun> {
  try {
    return await runTimed(command, args, timeoutMs);
  } catch (error) {
    throw new BenchError(`${what}: could not start ${command}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Drops tkvm's timing line, so that an error names the VMM's last message. */
function withoutTimingReport(stderr: string): string {
  return stderr.split('\n').filter((line) => !line.trim().startsWith('{"tkvmTiming":')).join('\n');
}

/** Checks the parts of a run both sides share: exit status and the guest's last words. */
function checkGuestRun(what: string, count: number, run: TimedRun, guestOutput: string): void {
  if (run.status !== GUEST_EXIT_STATUS) {
    const detail = lastLine(withoutTimingReport(run.stderr)) || lastLine(run.stdout) || 'no output';
    throw new BenchError(`${what} count=${count}: ${describeEnd(run)}, expected ${GUEST_EXIT_STATUS} (guest debug exit): ${detail}`);
  }
  const done = guestDoneCount(guestOutput);
  if (done !== count) {
    throw new BenchError(`${what} count=${count}: guest did not print "pio-loop done ${count}"${done === null ? '' : ` (printed ${done})`}`);
  }
}

/** bench/exit-cost/kvm-loop.c: guest serial output on stderr, its report on stdout. */
export function cSide(kvmLoopPath: string, guestPath: string, timeoutMs: number, path: ExitPath = 'post'): Side {
  return {
    name: 'c',
    async runGuest(count) {
      const run = await spawnOrExplain('C loop', kvmLoopPath, [guestPath, `count=${count} path=${path}`], timeoutMs);
      checkGuestRun('C loop', count, run, run.stderr);
      const report = parseKvmLoopReport(run.stdout);
      if (report === null) throw new BenchError(`C loop count=${count}: no {"kvmLoop":...} report on stdout`);
      if (path !== 'uart' && report.pioExits !== count) {
        throw new BenchError(`C loop count=${count}: counted ${report.pioExits} port 0x80 exits`);
      }
      return {
        wallNs: run.wallNs,
        selfRunLoopNs: report.runLoopNs,
        startToFirstRunMs: report.startToFirstRunNs / 1e6,
      };
    },
  };
}

/** `tkvm run --report-timing`: serial output on stdout, the timing line on stderr. */
export function tkvmSide(cliPath: string, guestPath: string, timeoutMs: number, path: ExitPath = 'post'): Side {
  return {
    name: 'tkvm',
    async runGuest(count) {
      const args = [
        cliPath, 'run', '--debug-exit',
        '--kernel', guestPath,
        '--mem', GUEST_MEMORY,
        '--cmdline', `count=${count} path=${path}`,
        '--report-timing',
        ...(path === 'echo' ? ['--test-devices'] : []),
      ];
      const run = await spawnOrExplain('tkvm', process.execPath, args, timeoutMs);
      checkGuestRun('tkvm', count, run, `${run.stdout}\n${run.stderr}`);
      const timing = parseTkvmTiming(run.stderr);
      if (timing?.ioExits != null && timing.ioExits < count) {
        throw new BenchError(`tkvm count=${count}: reported ${timing.ioExits} port-I/O exits, expected at least ${count}`);
      }
      return {
        wallNs: run.wallNs,
        selfRunLoopNs: null,
        startToFirstRunMs: timing?.startToFirstRunMs ?? null,
      };
    },
  };
}
