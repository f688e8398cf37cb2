/**
 * bench/net's one-line JSON result (bench/README.md, "net"). For each case
 * (direction × frame size) and side, the rate of each rep's measured (last)
 * pass; medians over reps are reported: Gbit/s (10^9 bits of frame per
 * second, virtio header not counted) and packets/s. Ratios are tkvm / C;
 * the target (0.8) applies to TX and RX at the largest frame size.
 */
import type { HostInfo } from '../lib/host.js';
import { median, roundTo } from '../lib/stats.js';
import type { NetDirection, NetPass } from './output.js';

export const THROUGHPUT_TARGET = 0.8;

export interface NetCase {
  direction: NetDirection;
  /** Ethernet frame bytes (without the 12-byte virtio header). */
  size: number;
  /** Frames per pass. */
  count: number;
}

/** The case name used as a key: e.g. "tx1500". */
export function caseName(c: Pick<NetCase, 'direction' | 'size'>): string {
  return `${c.direction}${c.size}`;
}

export function gbitPerSecond(pass: NetPass): number {
  if (!(pass.ns > 0)) throw new RangeError(`pass time ${pass.ns} ns is not positive`);
  return (pass.bytes * 8) / pass.ns;
}

export function packetsPerSecond(pass: NetPass): number {
  if (!(pass.ns > 0)) throw new RangeError(`pass time ${pass.ns} ns is not positive`);
  return (pass.frames * 1e9) / pass.ns;
}

export interface SideRates {
  gbps: number;
  pps: number;
  /** Gbit/s of each rep's measured pass. */
  samples: number[];
}

export interface CaseResult {
  tkvm: SideRates | null;
  c: SideRates | null;
  /** tkvm / C by Gbit/s (the same as by packets/s: same frames). */
  ratio: number | null;
}

export interface NetInput {
  cases: readonly NetCase[];
  /** Measured passes per case name and side. */
  tkvm: Record<string, NetPass[]>;
  c: Record<string, NetPass[]>;
  params: Record<string, number | string>;
  machine: HostInfo;
  loadAverage: { start: number[]; end: number[] };
  errors: Record<string, string>;
}

export interface NetResult {
  bench: 'net';
  cases: Record<string, CaseResult>;
  target: number;
  /** For the largest TX and RX cases: tkvm >= target × C (null when a side is missing). */
  meets: Record<string, boolean | null>;
  params: Record<string, number | string>;
  machine: HostInfo;
  loadAverage: { start: number[]; end: number[] };
  errors?: Record<string, string>;
}

function rates(passes: readonly NetPass[] | undefined): SideRates | null {
  if (passes === undefined || passes.length === 0) return null;
  const samples = passes.map(gbitPerSecond);
  return { gbps: roundTo(median(samples), 3), pps: Math.round(median(passes.map(packetsPerSecond))), samples: samples.map((s) => roundTo(s, 3)) };
}

export function summarizeNet(input: NetInput): NetResult {
  const cases: Record<string, CaseResult> = {};
  for (const c of input.cases) {
    const name = caseName(c);
    const tkvm = rates(input.tkvm[name]);
    const cSide = rates(input.c[name]);
    const ratio = tkvm !== null && cSide !== null && cSide.gbps > 0 ? roundTo(median(input.tkvm[name]!.map(gbitPerSecond)) / median(input.c[name]!.map(gbitPerSecond)), 3) : null;
    cases[name] = { tkvm, c: cSide, ratio };
  }
  const meets: Record<string, boolean | null> = {};
  for (const direction of ['tx', 'rx'] as const) {
    const judged = input.cases.filter((c) => c.direction === direction).sort((a, b) => b.size - a.size)[0];
    if (judged === undefined) continue;
    const ratio = cases[caseName(judged)]!.ratio;
    meets[caseName(judged)] = ratio === null ? null : ratio >= THROUGHPUT_TARGET;
  }
  const result: NetResult = {
    bench: 'net', cases, target: THROUGHPUT_TARGET, meets, params: input.params, machine: input.machine, loadAverage: input.loadAverage,
  };
  if (Object.keys(input.errors).length > 0) result.errors = input.errors;
  return result;
}
