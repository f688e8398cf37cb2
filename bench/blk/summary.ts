/**
 * Turns bench/blk's measured passes into its one-line JSON result
 * (bench/README.md, "blk"). Per side and mode the rate of each rep's
 * measured (last) pass is computed, and the median over reps is reported:
 * MB/s (10^6 bytes per second) for the sequential modes, requests per
 * second for random reads. Ratios are tkvm / host; the target applies to
 * the sequential modes.
 */
import type { HostInfo } from '../lib/host.js';
import { median, roundTo } from '../lib/stats.js';
import type { GuestPass } from './guest-output.js';
import type { HostPass } from './host-output.js';
import type { BlkMode } from './sides.js';

/** tkvm must reach this fraction of the host's sequential throughput. */
export const THROUGHPUT_TARGET = 0.8;

/** The rate a mode is judged by: MB/s (sequential) or IOPS (random). */
export function passRate(mode: BlkMode, bytes: number, requests: number, ns: number): number {
  if (!(ns > 0)) throw new RangeError(`pass time ${ns} ns is not positive`);
  return mode === 'randread' ? (requests * 1e9) / ns : (bytes * 1e3) / ns;
}

export interface BlkParams {
  imageBytes: number;
  seqBlockBytes: number;
  seqCount: number;
  randBlockBytes: number;
  randCount: number;
  depth: number;
  passes: number;
  reps: number;
  seed: number;
  guestMemory: string;
}

export interface BlkInput {
  /** The measured pass of every rep, per side and mode. */
  tkvm: Partial<Record<BlkMode, GuestPass[]>>;
  host: Partial<Record<BlkMode, HostPass[]>>;
  params: BlkParams;
  machine: HostInfo;
  loadAverage: { start: number[]; end: number[] };
  errors: Record<string, string>;
}

export interface Rates {
  seqReadMBps: number | null;
  seqWriteMBps: number | null;
  randReadIops: number | null;
}

export interface ModeDetail {
  /** The rate of each rep's measured pass (MB/s or IOPS). */
  samples: number[];
  /** Median time per request, µs. */
  usPerRequest: number;
}

export interface TkvmModeDetail extends ModeDetail {
  /** The rate from the guest's own RDTSC count (ticks / host TSC Hz), median; null without a host TSC rate. */
  tscRate: number | null;
  /** Median harness wall time / guest TSC time of a pass: ≈ 1 when both clocks agree. */
  wallOverTsc: number | null;
  /** Median kicks (notify writes) per pass. */
  kicksPerPass: number;
}

export interface BlkResult {
  bench: 'blk';
  tkvm: Rates;
  host: Rates;
  ratios: { seqRead: number | null; seqWrite: number | null; randRead: number | null };
  target: number;
  meets: { seqRead: boolean | null; seqWrite: boolean | null };
  params: BlkParams;
  detail: {
    tkvm: Partial<Record<BlkMode, TkvmModeDetail>>;
    host: Partial<Record<BlkMode, ModeDetail>>;
    /** Host TSC rate from host-io's TSC and CLOCK_MONOTONIC counts, MHz; null if unknown. */
    hostTscMHz: number | null;
  };
  machine: HostInfo;
  loadAverage: { start: number[]; end: number[] };
  errors?: Record<string, string>;
}

const RATE_KEYS: Record<BlkMode, keyof Rates> = { seqread: 'seqReadMBps', seqwrite: 'seqWriteMBps', randread: 'randReadIops' };

/** TSC ticks per second on the host, from host-io's paired counts; null when none has a TSC count. */
export function hostTscHz(host: BlkInput['host']): number | null {
  let ticks = 0;
  let ns = 0;
  for (const passes of Object.values(host)) {
    for (const pass of passes ?? []) {
      if (pass.tscTicks <= 0) continue;
      ticks += pass.tscTicks;
      ns += pass.ns;
    }
  }
  return ticks > 0 && ns > 0 ? (ticks * 1e9) / ns : null;
}

function decimals(mode: BlkMode): number {
  return mode === 'randread' ? 0 : 1;
}

function hostDetail(mode: BlkMode, passes: HostPass[]): ModeDetail {
  return {
    samples: passes.map((p) => roundTo(passRate(mode, p.bytes, p.requests, p.ns), decimals(mode))),
    usPerRequest: roundTo(median(passes.map((p) => p.ns / p.requests / 1e3)), 3),
  };
}

function tkvmDetail(mode: BlkMode, passes: GuestPass[], tscHz: number | null): TkvmModeDetail {
  const tscNs = (p: GuestPass): number | null => (tscHz === null || p.tscTicks <= 0 ? null : (p.tscTicks / tscHz) * 1e9);
  const withTsc = passes.filter((p) => tscNs(p) !== null);
  return {
    samples: passes.map((p) => roundTo(passRate(mode, p.bytes, p.requests, p.wallNs), decimals(mode))),
    usPerRequest: roundTo(median(passes.map((p) => p.wallNs / p.requests / 1e3)), 3),
    tscRate: withTsc.length === 0 ? null : roundTo(median(withTsc.map((p) => passRate(mode, p.bytes, p.requests, tscNs(p)!))), decimals(mode)),
    wallOverTsc: withTsc.length === 0 ? null : roundTo(median(withTsc.map((p) => p.wallNs / tscNs(p)!)), 4),
    kicksPerPass: median(passes.map((p) => p.kicks)),
  };
}

function ratio(tkvm: number | null, host: number | null): number | null {
  return tkvm === null || host === null || host <= 0 ? null : roundTo(tkvm / host, 3);
}

export function summarizeBlk(input: BlkInput): BlkResult {
  const tscHz = hostTscHz(input.host);
  const tkvm: Rates = { seqReadMBps: null, seqWriteMBps: null, randReadIops: null };
  const host: Rates = { seqReadMBps: null, seqWriteMBps: null, randReadIops: null };
  const detail: BlkResult['detail'] = { tkvm: {}, host: {}, hostTscMHz: tscHz === null ? null : roundTo(tscHz / 1e6, 3) };
  for (const mode of Object.keys(RATE_KEYS) as BlkMode[]) {
    const key = RATE_KEYS[mode];
    const tkvmPasses = input.tkvm[mode];
    if (tkvmPasses && tkvmPasses.length > 0) {
      detail.tkvm[mode] = tkvmDetail(mode, tkvmPasses, tscHz);
      tkvm[key] = roundTo(median(tkvmPasses.map((p) => passRate(mode, p.bytes, p.requests, p.wallNs))), decimals(mode));
    }
    const hostPasses = input.host[mode];
    if (hostPasses && hostPasses.length > 0) {
      detail.host[mode] = hostDetail(mode, hostPasses);
      host[key] = roundTo(median(hostPasses.map((p) => passRate(mode, p.bytes, p.requests, p.ns))), decimals(mode));
    }
  }
  const ratios = {
    seqRead: ratio(tkvm.seqReadMBps, host.seqReadMBps),
    seqWrite: ratio(tkvm.seqWriteMBps, host.seqWriteMBps),
    randRead: ratio(tkvm.randReadIops, host.randReadIops),
  };
  const result: BlkResult = {
    bench: 'blk',
    tkvm,
    host,
    ratios,
    target: THROUGHPUT_TARGET,
    meets: {
      seqRead: ratios.seqRead === null ? null : ratios.seqRead >= THROUGHPUT_TARGET,
      seqWrite: ratios.seqWrite === null ? null : ratios.seqWrite >= THROUGHPUT_TARGET,
    },
    params: input.params,
    detail,
    machine: input.machine,
    loadAverage: input.loadAverage,
  };
  if (Object.keys(input.errors).length > 0) result.errors = input.errors;
  return result;
}
