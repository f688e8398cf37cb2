/**
 * bench/net: virtio-net throughput through tkvm's whole device path (guest
 * ring → device thread → writev/readv on a TAP), against the same
 * writev/readv on the same TAP from a small C program (tap-loop.c).
 * Gbit/s at 1500-byte and 65534-byte frames (the largest virtio-net takes
 * at its default MTU of 65520, our "64 KiB"),
 * packets/s at 64 bytes, both directions. Prints progress on stderr and
 * ends with one JSON line on stdout (summary.ts, bench/README.md).
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from '../../src/util/errors.js';
import type { Benchmark } from '../lib/benchmark.js';
import { buildCProgram } from '../lib/build-c.js';
import { BenchError } from '../lib/errors.js';
import { hostInfo } from '../lib/host.js';
import { parseCount } from '../lib/options.js';
import { benchBuildDir, repoRoot } from '../lib/paths.js';
import { roundTo } from '../lib/stats.js';
import { createBenchNamespace } from './namespace.js';
import type { NetPass } from './output.js';
import { GUEST_MEMORY, runC, runTkvm, type RunSpec } from './sides.js';
import { caseName, gbitPerSecond, type NetCase, packetsPerSecond, summarizeNet } from './summary.js';

export const EXIT_TARGET_MISSED = 3;
/** Frame sizes: packets/s at the smallest, Gbit/s at the others; the largest is judged. */
export const FRAME_SIZES = [64, 1500, 65534] as const;
/** Frames per pass by default, per size (each pass a fraction of a second natively). */
const DEFAULT_COUNTS: Record<number, number> = { 64: 200_000, 1500: 100_000, 65534: 20_000 };

export type SideName = 'tkvm' | 'c';

export interface NetOptions {
  cases: NetCase[];
  passes: number;
  reps: number;
  depth: number;
  sides: SideName[];
  timeoutMs: number;
  guestPath: string;
  tkvmCliPath: string;
  check: boolean;
}

const usage = `usage: node dist/bench/main.js net [options]      (needs root: it makes a network namespace and a TAP)
  --directions LIST  tx, rx or tx,rx (default tx,rx)
  --sizes LIST       frame sizes in bytes, 60-65535 (default 64,1500,65534)
  --count N          frames per pass for every size (default 200000 / 100000 / 20000 by size)
  --passes N         passes per run; the last one is measured (default 2)
  --reps N           runs per side and case; medians are reported (default 3)
  --depth N          buffers the guest keeps in flight, 1-128 (default 64)
  --only SIDE        run only "tkvm" or only "c"
  --timeout S        seconds before one run is killed (default 300)
  --guest PATH       guest ELF (default test/guests/build/net-bench.elf)
  --tkvm PATH        tkvm CLI script (default dist/tkvm/main.js)
  --check            exit with status 3 if a target is missed`;

function list(flag: string, text: string | undefined, allowed: readonly string[] | null): string[] {
  const items = (text ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UsageError(`${flag} needs a comma-separated list`);
  for (const item of items) if (allowed !== null && !allowed.includes(item)) throw new UsageError(`${flag}: unknown "${item}" (use ${allowed.join(', ')})`);
  return items;
}

export function parseNetArgs(argv: string[]): NetOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, strict: true, allowPositionals: false,
      options: {
        directions: { type: 'string' }, sizes: { type: 'string' }, count: { type: 'string' }, passes: { type: 'string' },
        reps: { type: 'string' }, depth: { type: 'string' }, only: { type: 'string' }, timeout: { type: 'string' },
        guest: { type: 'string' }, tkvm: { type: 'string' }, check: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new UsageError(`net: ${error instanceof Error ? error.message : String(error)}`);
  }
  const { values } = parsed;
  const directions = values.directions === undefined ? ['tx', 'rx'] : list('--directions', values.directions, ['tx', 'rx']);
  const sizes = values.sizes === undefined ? [...FRAME_SIZES] : list('--sizes', values.sizes, null).map((s) => parseCount('--sizes', s, 0, 60, 65535));
  const count = values.count === undefined ? undefined : parseCount('--count', values.count, 0, 1, 1e9);
  const only = values.only;
  if (only !== undefined && only !== 'tkvm' && only !== 'c') throw new UsageError(`--only must be "tkvm" or "c", got "${only}"`);
  const root = repoRoot();
  const cases: NetCase[] = [];
  for (const direction of ['tx', 'rx'] as const) {
    if (!directions.includes(direction)) continue;
    for (const size of [...new Set(sizes)].sort((a, b) => a - b)) cases.push({ direction, size, count: count ?? DEFAULT_COUNTS[size] ?? 100_000 });
  }
  return {
    cases,
    passes: parseCount('--passes', values.passes, 2, 1, 16),
    reps: parseCount('--reps', values.reps, 3, 1, 100),
    depth: parseCount('--depth', values.depth, 64, 1, 128),
    sides: only === undefined ? ['c', 'tkvm'] : [only],
    timeoutMs: parseCount('--timeout', values.timeout, 300, 1, 3600) * 1000,
    guestPath: resolve(values.guest ?? resolve(root, 'test/guests/build/net-bench.elf')),
    tkvmCliPath: resolve(values.tkvm ?? resolve(root, 'dist/tkvm/main.js')),
    check: values.check ?? false,
  };
}

function progress(line: string): void {
  process.stderr.write(`net: ${line}\n`);
}

function describe(pass: NetPass): string {
  return `${gbitPerSecond(pass).toFixed(2)} Gbit/s, ${Math.round(packetsPerSecond(pass))} packets/s`;
}

export interface Runners {
  tkvm(spec: RunSpec): Promise<NetPass[]>;
  c(spec: RunSpec): Promise<NetPass[]>;
}

/**
 * `reps` rounds per case; each runs every side once, the order alternating
 * between rounds. A side that fails in a case is dropped for that case and
 * its error kept.
 */
export async function measure(options: NetOptions, runners: Runners, errors: Record<string, string>): Promise<{ tkvm: Record<string, NetPass[]>; c: Record<string, NetPass[]> }> {
  const samples = { tkvm: {} as Record<string, NetPass[]>, c: {} as Record<string, NetPass[]> };
  for (const c of options.cases) {
    const spec: RunSpec = { ...c, passes: options.passes, depth: options.depth };
    const name = caseName(c);
    const live = new Set<SideName>(options.sides);
    for (let rep = 1; rep <= options.reps; rep++) {
      const order = rep % 2 === 1 ? options.sides : [...options.sides].reverse();
      for (const side of order) {
        if (!live.has(side)) continue;
        try {
          const last = (await runners[side](spec)).at(-1)!;
          (samples[side][name] ??= []).push(last);
          progress(`${name} rep ${rep}/${options.reps} ${side}: ${describe(last)}`);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          errors[`${side} ${name}`] = message;
          progress(message);
          live.delete(side);
          delete samples[side][name];
        }
      }
    }
  }
  return samples;
}

function loadAverage(): number[] {
  return loadavg().map((value) => roundTo(value, 2));
}

export async function runNet(argv: string[]): Promise<number> {
  const options = parseNetArgs(argv);
  const loadStart = loadAverage();
  if (options.sides.includes('tkvm')) {
    if (!existsSync(options.guestPath)) throw new BenchError(`guest not found: ${options.guestPath} (run make -C test/guests)`);
    if (!existsSync(options.tkvmCliPath)) throw new BenchError(`tkvm CLI not found: ${options.tkvmCliPath} (run npm run build)`);
  }
  const tapLoop = await buildCProgram(resolve(repoRoot(), 'bench/net/tap-loop.c'), resolve(benchBuildDir(), 'tap-loop'));
  const ns = createBenchNamespace();
  const errors: Record<string, string> = {};
  let samples;
  try {
    progress(`TAP ${ns.tap} in network namespace ${ns.name}`);
    samples = await measure(options, {
      tkvm: (spec) => runTkvm(options.tkvmCliPath, options.guestPath, tapLoop, ns, spec, options.timeoutMs),
      c: (spec) => runC(tapLoop, ns, spec, options.timeoutMs),
    }, errors);
  } finally {
    ns.remove();
  }
  const result = summarizeNet({
    cases: options.cases,
    ...samples,
    params: { passes: options.passes, reps: options.reps, depth: options.depth, guestMemory: GUEST_MEMORY, ...Object.fromEntries(options.cases.map((c) => [`count${caseName(c)}`, c.count])) },
    machine: hostInfo(),
    loadAverage: { start: loadStart, end: loadAverage() },
    errors,
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (result.errors !== undefined) return 1;
  if (options.check && Object.values(result.meets).some((m) => m === false)) return EXIT_TARGET_MISSED;
  return 0;
}

export const netBenchmark: Benchmark = {
  name: 'net',
  summary: 'virtio-net Gbit/s and packets/s to a TAP through tkvm vs writev/readv on the TAP from C',
  usage,
  run: runNet,
};
