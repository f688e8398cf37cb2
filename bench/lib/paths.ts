import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository root. This file runs as dist/bench/lib/paths.js, so the
 * root is three levels up; sources (C files, guests) are read from there.
 */
export function repoRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

/** Where benchmarks put what they compile (gitignored). */
export function benchBuildDir(): string {
  return resolve(repoRoot(), 'bench', 'build');
}
