/**
 * bench/exit-cost: what one port-I/O exit costs under tkvm, against a
 * minimal C KVM loop (kvm-loop.c) serving the same exits of the same guest
 * in the same invocation. Prints progress on stderr and ends with one JSON
 * line on stdout (see summary.ts and bench/README.md).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from '../../src/util/errors.js';
import type { Benchmark } from '../lib/benchmark.js';
import { buildCProgram } from '../lib/build-c.js';
import { BenchError } from '../lib/errors.js';
import { hostInfo } from '../lib/host.js';
import { parseCount } from '../lib/options.js';
import { benchBuildDir, repoRoot } from '../lib/paths.js';
import { cSide, tkvmSide, EXIT_PATHS, type ExitPath, type Side, type SideName } from './sides.js';
import { summarizeExitCost, type SideSamples } from './summary.js';

/** Exit status when --check is given and a target is missed. */
export const EXIT_TARGET_MISSED = 3;

export interface ExitCostOptions {
  exits: number;
  baseExits: number;
  reps: number;
  timeoutMs: number;
  guestPath: string;
  tkvmCliPath: string;
  sides: SideName[];
  path: ExitPath;
  check: boolean;
}

const usage = `usage: node dist/bench/main.js exit-cost [options]
  --exits N       port-I/O exits in the long runs (default 100000)
  --base-exits N  exits in the short runs whose time is subtracted (default 1000)
  --reps N        runs per side and exit count; medians are used (default 5)
  --timeout S     seconds before one run is killed (default 120)
  --guest PATH    guest ELF (default test/guests/build/pio-loop.elf)
  --tkvm PATH     tkvm CLI script (default dist/tkvm/main.js)
  --only SIDE     run only "c" or only "tkvm"
  --path P        the exits measured: "post" (port 0x80, answered in the vCPU
                  thread; default), "echo" (a device on the main thread: the
                  mailbox round trip) or "uart" (COM1 LSR polls and THR writes)
  --check         exit with status 3 if a target is missed`;

export function parseExitCostArgs(argv: string[]): ExitCostOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        exits: { type: 'string' },
        'base-exits': { type: 'string' },
        reps: { type: 'string' },
        timeout: { type: 'string' },
        guest: { type: 'string' },
        tkvm: { type: 'string' },
        only: { type: 'string' },
        path: { type: 'string' },
        check: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new UsageError(`exit-cost: ${error instanceof Error ? error.message : String(error)}`);
  }
  const { values } = parsed;
  const baseExits = parseCount('--base-exits', values['base-exits'], 1000, 0, 10_000_000);
  const exits = parseCount('--exits', values.exits, 100_000, baseExits + 1, 100_000_000);
  const only = values.only;
  if (only !== undefined && only !== 'c' && only !== 'tkvm') {
    throw new UsageError(`--only must be "c" or "tkvm", got "${only}"`);
  }
  const path = values.path ?? 'post';
  if (!(EXIT_PATHS as readonly string[]).includes(path)) {
    throw new UsageError(`--path must be "post", "echo" or "uart", got "${path}"`);
  }
  const root = repoRoot();
  return {
    exits,
    baseExits,
    reps: parseCount('--reps', values.reps, 5, 1, 1000),
    timeoutMs: parseCount('--timeout', values.timeout, 120, 1, 3600) * 1000,
    guestPath: resolve(values.guest ?? resolve(root, 'test/guests/build/pio-loop.elf')),
    tkvmCliPath: resolve(values.tkvm ?? resolve(root, 'dist/tkvm/main.js')),
    sides: only === undefined ? ['c', 'tkvm'] : [only],
    path: path as ExitPath,
    check: values.check ?? false,
  };
}

function message(error: unknown): string {
  if (error instanceof BenchError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

function progress(line: string): void {
  process.stderr.write(`exit-cost: ${line}\n`);
}

/** Builds what each side needs; a side that cannot be prepared records an error. */
async function prepareSides(options: ExitCostOptions, errors: Partial<Record<SideName, string>>): Promise<Side[]> {
  const sides: Side[] = [];
  for (const name of options.sides) {
    try {
      if (name === 'c') {
        const source = resolve(repoRoot(), 'bench/exit-cost/kvm-loop.c');
        const binary = await buildCProgram(source, resolve(benchBuildDir(), 'kvm-loop'));
        sides.push(cSide(binary, options.guestPath, options.timeoutMs, options.path));
      } else {
        if (!existsSync(options.tkvmCliPath)) {
          throw new BenchError(`tkvm CLI not found: ${options.tkvmCliPath} (run npm run build)`);
        }
        sides.push(tkvmSide(options.tkvmCliPath, options.guestPath, options.timeoutMs, options.path));
      }
    } catch (error) {
      errors[name] = message(error);
      progress(errors[name]);
    }
  }
  return sides;
}

/**
 * One discarded warm-up run per side (page cache, lazy kernel state), then
 * `reps` rounds; each round runs every side at both exit counts, in
 * alternating order so slow drift on a shared machine hits both sides alike.
 * A side that fails once is dropped and its error recorded.
 */
async function measure(
  options: ExitCostOptions,
  sides: Side[],
  errors: Partial<Record<SideName, string>>,
): Promise<Partial<Record<SideName, SideSamples>>> {
  const samples: Partial<Record<SideName, SideSamples>> = {};
  const live = new Set<Side>();
  for (const side of sides) {
    try {
      await side.runGuest(options.baseExits);
      samples[side.name] = { short: [], long: [] };
      live.add(side);
    } catch (error) {
      errors[side.name] = message(error);
      progress(errors[side.name]!);
    }
  }
  const plan = sides.flatMap((side) => [
    { side, count: options.baseExits, kind: 'short' as const },
    { side, count: options.exits, kind: 'long' as const },
  ]);
  for (let rep = 1; rep <= options.reps; rep++) {
    const order = rep % 2 === 1 ? plan : [...plan].reverse();
    for (const { side, count, kind } of order) {
      if (!live.has(side)) continue;
      try {
        const sample = await side.runGuest(count);
        samples[side.name]![kind].push(sample);
        progress(`rep ${rep}/${options.reps} ${side.name} count=${count}: ${(sample.wallNs / 1e6).toFixed(1)} ms`);
      } catch (error) {
        errors[side.name] = message(error);
        progress(errors[side.name]!);
        live.delete(side);
        delete samples[side.name];
      }
    }
  }
  return samples;
}

export async function runExitCost(argv: string[]): Promise<number> {
  const options = parseExitCostArgs(argv);
  if (!existsSync(options.guestPath)) {
    throw new BenchError(`guest not found: ${options.guestPath} (run make -C test/guests)`);
  }
  const errors: Partial<Record<SideName, string>> = {};
  const sides = await prepareSides(options, errors);
  const samples = await measure(options, sides, errors);
  const result = summarizeExitCost({
    path: options.path,
    exits: options.exits,
    baseExits: options.baseExits,
    reps: options.reps,
    samples,
    errors,
    host: hostInfo(),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (result.errors !== undefined) return 1;
  if (options.check && (result.meetsTarget === false || result.meetsStartTarget === false)) return EXIT_TARGET_MISSED;
  return 0;
}

export const exitCostBenchmark: Benchmark = {
  name: 'exit-cost',
  summary: 'per-exit cost of 100,000 port-I/O exits: tkvm vs a minimal C KVM loop',
  usage,
  run: runExitCost,
};
