/**
 * The POSIX behaviour program (test/guests-linux/posix-check.c): building
 * it and reading its report, for the host run and the in-guest run on a
 * share, which must give the same lines.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from './kvm.js';

export const POSIX_CHECK = path.join(REPO_ROOT, 'test/guests-linux/build/posix-check');

/** The checks the program runs, in its order: a report that lacks one is incomplete. */
export const POSIX_CHECKS = [
  'write-read-1MiB', 'open-unlink-fstat-ftruncate-pread', 'rename-over-existing', 'hard-links-nlink', 'symlink-readlink-lstat', 'chmod',
  'sticky-directory', 'chown-lchown', 'readdir-1500', 'o_excl-enotempty-enoent', 'truncate', 'utimensat-nanoseconds', 'mkfifo', 'statfs',
  'user-xattrs', 'fcntl-and-flock-locks', 'o_append',
] as const;

export function buildPosixCheck(): void {
  execFileSync('make', ['-s', '-C', path.join(REPO_ROOT, 'test/guests-linux')], { stdio: 'inherit' });
}

export interface PosixReport {
  /** Check name → 'ok', 'skip: reason' or 'FAIL: detail'. */
  results: Map<string, string>;
  failures: string[];
}

/** Parses the program's lines (other text around them is ignored, as in a guest's mixed output). */
export function parsePosixReport(text: string): PosixReport {
  const results = new Map<string, string>();
  const failures: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^(ok|skip|FAIL) ([\w.-]+)(?:: (.*))?$/.exec(line.trimEnd());
    if (!m) continue;
    results.set(m[2]!, m[1] === 'ok' ? 'ok' : `${m[1]}: ${m[3] ?? ''}`);
    if (m[1] === 'FAIL') failures.push(`${m[2]}: ${m[3] ?? ''}`);
  }
  return { results, failures };
}
