/**
 * Helpers for tests that need /dev/kvm and the built test guests. Without
 * KVM such a test is skipped on a developer machine but FAILS in CI
 * (CI=true): a CI run must never pass by skipping the integration tests.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { TestContext } from 'node:test';

/** The repository root (this file is dist/src/testing/kvm.js once built). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** The bundled CLI, i.e. the package's bin: tests run what ships. */
export const CLI = path.join(REPO_ROOT, 'dist/tkvm/main.js');

export function guestPath(name: string): string {
  return path.join(REPO_ROOT, 'test/guests/build', `${name}.elf`);
}

export function kvmAvailable(): string | null {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return null;
  } catch (err) {
    return `/dev/kvm is not usable: ${(err as Error).message}`;
  }
}

/** Skips (developer machine) or fails (CI) when KVM or the guest is missing; returns false to stop the test. */
export function requireKvm(t: TestContext, guest?: string): boolean {
  let problem = kvmAvailable();
  if (!problem && guest && !existsSync(guestPath(guest))) problem = `test guest ${guest} is not built (npm run build:guests)`;
  if (!problem) return true;
  if (process.env['CI'] === 'true') throw new Error(`KVM integration test cannot run in CI: ${problem}`);
  t.skip(problem);
  return false;
}

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the tkvm CLI with a time limit; the child is killed if it exceeds it.
 * Its stdin gets `input` and is closed at once, unless `keepStdinOpen`: then
 * the caller writes to (and ends) `child.stdin`, e.g. from `onStdout`.
 */
export function runTkvm(args: string[], opts: { timeoutMs?: number; input?: string; keepStdinOpen?: boolean; env?: NodeJS.ProcessEnv; onStdout?: (stdoutSoFar: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      opts.onStdout?.(stdout, child);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
    // A child that exits before reading its input must not fail the test with EPIPE: its status tells.
    child.stdin.on('error', () => {});
    if (opts.keepStdinOpen) {
      if (opts.input !== undefined) child.stdin.write(opts.input);
    } else if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}
