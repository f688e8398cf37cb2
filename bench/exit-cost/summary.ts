/**
 * Turns the samples of bench/exit-cost into its one-line JSON result.
 * Method (bench/README.md): per side, the median whole-process wall time
 * of the short runs (baseExits) and of the long runs (exits); per-exit
 * cost = (median long - median short) / (exits - baseExits).
 */
import type { HostInfo } from '../lib/host.js';
import { marginalCostPerExit, median, roundTo } from '../lib/stats.js';
import type { ExitPath, SideName, SideSample } from './sides.js';

/** tkvm's per-exit cost may be at most this multiple of the C loop's. */
export const RATIO_TARGET = 1.1;
/** For exits served by a device (echo, COM1) the target is looser: at most 1.5 times the C loop's. */
export const DEVICE_RATIO_TARGET = 1.5;

export function ratioTarget(path: ExitPath): number {
  return path === 'post' ? RATIO_TARGET : DEVICE_RATIO_TARGET;
}
/** Process start to first KVM_RUN, at most this many ms. */
export const START_TO_FIRST_RUN_TARGET_MS = 60;

export interface SideSamples {
  /** Runs with baseExits exits. */
  short: SideSample[];
  /** Runs with exits exits. */
  long: SideSample[];
}

export interface ExitCostInput {
  /** Absent: 'post'. */
  path?: ExitPath;
  exits: number;
  baseExits: number;
  reps: number;
  samples: Partial<Record<SideName, SideSamples>>;
  errors: Partial<Record<SideName, string>>;
  host: HostInfo;
}

export interface ExitCostResult {
  bench: 'exit-cost';
  path: ExitPath;
  exits: number;
  baseExits: number;
  reps: number;
  tkvmNsPerExit: number | null;
  cNsPerExit: number | null;
  /** tkvmNsPerExit / cNsPerExit. */
  ratio: number | null;
  target: number;
  meetsTarget: boolean | null;
  tkvmStartToFirstRunMs: number | null;
  startToFirstRunTargetMs: number;
  meetsStartTarget: boolean | null;
  /** The C loop's per-exit cost from its own clock (KVM_RUN loop only). */
  cSelfNsPerExit: number | null;
  /** The C loop's main() entry to first KVM_RUN, ms. */
  cStartToFirstRunMs: number | null;
  /** Median whole-process wall times in ms, by side and by exit count. */
  medianWallMs: Partial<Record<SideName, Record<string, number>>>;
  host: HostInfo;
  errors?: Partial<Record<SideName, string>>;
}

function complete(samples: SideSamples | undefined): samples is SideSamples {
  return samples !== undefined && samples.short.length > 0 && samples.long.length > 0;
}

function nsPerExit(samples: SideSamples | undefined, input: ExitCostInput, time: (sample: SideSample) => number | null): number | null {
  if (!complete(samples)) return null;
  const short = samples.short.map(time);
  const long = samples.long.map(time);
  if (short.some((t) => t === null) || long.some((t) => t === null)) return null;
  return marginalCostPerExit(median(short as number[]), input.baseExits, median(long as number[]), input.exits);
}

function medianStartMs(samples: SideSamples | undefined): number | null {
  if (samples === undefined) return null;
  const starts = [...samples.short, ...samples.long]
    .map((sample) => sample.startToFirstRunMs)
    .filter((ms): ms is number => ms !== null);
  return starts.length > 0 ? median(starts) : null;
}

function round(value: number | null, decimals: number): number | null {
  return value === null ? null : roundTo(value, decimals);
}

export function summarizeExitCost(input: ExitCostInput): ExitCostResult {
  const { c, tkvm } = input.samples;
  const wall = (sample: SideSample): number => sample.wallNs;
  const cNs = nsPerExit(c, input, wall);
  const tkvmNs = nsPerExit(tkvm, input, wall);
  const ratio = cNs !== null && tkvmNs !== null && cNs > 0 ? tkvmNs / cNs : null;
  const tkvmStart = medianStartMs(tkvm);
  const path = input.path ?? 'post';
  const target = ratioTarget(path);

  const medianWallMs: ExitCostResult['medianWallMs'] = {};
  for (const [name, samples] of Object.entries(input.samples) as [SideName, SideSamples][]) {
    if (!complete(samples)) continue;
    medianWallMs[name] = {
      [input.baseExits]: roundTo(median(samples.short.map(wall)) / 1e6, 3),
      [input.exits]: roundTo(median(samples.long.map(wall)) / 1e6, 3),
    };
  }

  const result: ExitCostResult = {
    bench: 'exit-cost',
    path,
    exits: input.exits,
    baseExits: input.baseExits,
    reps: input.reps,
    tkvmNsPerExit: round(tkvmNs, 1),
    cNsPerExit: round(cNs, 1),
    ratio: round(ratio, 3),
    target,
    meetsTarget: ratio === null ? null : ratio <= target,
    tkvmStartToFirstRunMs: round(tkvmStart, 2),
    startToFirstRunTargetMs: START_TO_FIRST_RUN_TARGET_MS,
    meetsStartTarget: tkvmStart === null ? null : tkvmStart <= START_TO_FIRST_RUN_TARGET_MS,
    cSelfNsPerExit: round(nsPerExit(c, input, (sample) => sample.selfRunLoopNs), 1),
    cStartToFirstRunMs: round(medianStartMs(c), 2),
    medianWallMs,
    host: input.host,
  };
  if (Object.keys(input.errors).length > 0) result.errors = input.errors;
  return result;
}
