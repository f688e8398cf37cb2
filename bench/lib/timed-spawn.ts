import { spawn } from 'node:child_process';

/** The outcome of one timed child process. */
export interface TimedRun {
  /** Wall time from just before spawn() to the child's exit, in ns. */
  wallNs: number;
  /** Exit status, or null if killed by a signal. */
  status: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

/** Keeps at most this many bytes of each output stream (the tail). */
const OUTPUT_LIMIT = 1 << 20;

function appendCapped(buffer: string, chunk: string): string {
  const joined = buffer + chunk;
  return joined.length > OUTPUT_LIMIT ? joined.slice(joined.length - OUTPUT_LIMIT) : joined;
}

/**
 * Runs `command args` with stdin closed, captures its output and measures
 * its whole-process wall time with the monotonic clock. A run longer than
 * `timeoutMs` is killed with SIGKILL and reported with timedOut = true.
 * Rejects only if the process could not be started (e.g. ENOENT).
 */
export function runTimed(command: string, args: readonly string[], timeoutMs: number): Promise<TimedRun> {
  return new Promise((resolvePromise, reject) => {
    let stdout = '';
    let stderr = '';
    let exitedAt = 0n;
    let timedOut = false;
    const startedAt = process.hrtime.bigint();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout = appendCapped(stdout, chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = appendCapped(stderr, chunk);
    });
    child.on('exit', () => {
      exitedAt = process.hrtime.bigint();
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      if (exitedAt === 0n) exitedAt = process.hrtime.bigint();
      resolvePromise({
        wallNs: Number(exitedAt - startedAt),
        status,
        signal,
        timedOut,
        stdout,
        stderr,
      });
    });
  });
}

/** The last non-empty line of some output, trimmed, for one-line errors. */
export function lastLine(output: string): string {
  const lines = output.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  return lines.at(-1) ?? '';
}

/** Describes how a run ended, e.g. "exit status 1" or "signal SIGKILL (timed out)". */
export function describeEnd(run: TimedRun): string {
  if (run.timedOut) return 'killed after timing out';
  if (run.signal !== null) return `killed by ${run.signal}`;
  return `exit status ${run.status}`;
}
