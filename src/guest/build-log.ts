/**
 * The setup build log: every command a build step runs appends its output
 * to one file in the cache, so a failure can be diagnosed after the fact,
 * and its tail is shown when a step fails.
 */

import { spawn } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { TkvmError } from '../util/errors.js';

/** Lines of the log shown when a step fails. */
export const FAILURE_TAIL_LINES = 30;

export class BuildLog {
  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
  }

  /** Starts a fresh log (a new attempt). */
  reset(): void {
    closeSync(openSync(this.path, 'w'));
  }

  note(text: string): void {
    appendFileSync(this.path, `${text}\n`);
  }

  /** The last `lines` lines of the log. */
  tail(lines = FAILURE_TAIL_LINES): string {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return '';
    }
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  }

  /**
   * Runs `command args` with stdout and stderr appended to the log.
   * Throws ERR_GUEST_BUILD (naming the step and the log) if it cannot be
   * started or exits non-zero.
   */
  async run(
    step: string,
    command: string,
    args: readonly string[],
    options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
  ): Promise<void> {
    this.note(`\n$ ${[command, ...args].join(' ')}${options.cwd ? `   (in ${options.cwd})` : ''}`);
    const fd = openSync(this.path, 'a');
    try {
      const status = await new Promise<string | null>((resolve) => {
        const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', fd, fd] });
        child.once('error', (error) => resolve(`could not be started (${error.message})`));
        child.once('exit', (code, signal) => {
          if (code === 0) resolve(null);
          else resolve(signal ? `was killed by ${signal}` : `exited with status ${code}`);
        });
      });
      if (status !== null) {
        throw new TkvmError('ERR_GUEST_BUILD', `${step} failed: ${command} ${status}; full log: ${this.path}`);
      }
    } finally {
      closeSync(fd);
    }
  }
}
