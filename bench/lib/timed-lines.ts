/** Runs a program and stamps each line of its stdout with its arrival time. */
import { spawn } from 'node:child_process';
import { type TimedLine, TimedLineSplitter } from '../blk/guest-output.js';

export type { TimedLine };

export interface StreamedRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  lines: TimedLine[];
  /** stderr's lines, stamped the same way (tkvm --exec sends the guest console there). */
  stderrLines: TimedLine[];
  stderr: string;
}

const STDERR_LIMIT = 64 * 1024;

/**
 * Spawns a program and stamps each stdout line with its arrival time
 * (process.hrtime); `onLine`, if given, sees each complete line as it
 * arrives (to start a peer when the guest says it is ready, say).
 */
export function runWithTimedLines(command: string, args: readonly string[], timeoutMs: number, onLine?: (line: string) => void): Promise<StreamedRun> {
  return new Promise((resolvePromise, reject) => {
    const splitter = new TimedLineSplitter();
    const stderrSplitter = new TimedLineSplitter();
    let seen = 0;
    let stderr = '';
    let timedOut = false;
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      splitter.push(chunk, process.hrtime.bigint());
      if (onLine) for (; seen < splitter.lines.length; seen++) onLine(splitter.lines[seen]!.line);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_LIMIT);
      stderrSplitter.push(chunk, process.hrtime.bigint());
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      splitter.finish(process.hrtime.bigint());
      stderrSplitter.finish(process.hrtime.bigint());
      resolvePromise({ status, signal, timedOut, lines: splitter.lines, stderrLines: stderrSplitter.lines, stderr });
    });
  });
}
