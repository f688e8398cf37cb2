/**
 * Parsers for what the two sides of bench/exit-cost print about themselves:
 * the C loop's `{"kvmLoop":...}` line on stdout and tkvm's
 * `{"tkvmTiming":...}` line on stderr (`tkvm run --report-timing`).
 * Both are read tolerantly: a missing or malformed report gives null, and
 * the harness decides whether that is fatal.
 */

/** What bench/exit-cost/kvm-loop.c reports (all times in ns). */
export interface KvmLoopReport {
  exits: number;
  pioExits: number;
  startToFirstRunNs: number;
  runLoopNs: number;
  totalNs: number;
}

/** The parts of tkvm's timing report the benchmark uses. */
export interface TkvmTimingReport {
  /** Process start to the first KVM_RUN, in ms; null if not reported. */
  startToFirstRunMs: number | null;
  /** Port-I/O exits ("io"), summed over vCPUs; null if not reported. */
  ioExits: number | null;
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

/**
 * Finds the last line of `output` that starts with `{"KEY":` and parses
 * it, returning the object under KEY (null if absent or malformed).
 */
export function findJsonReport(output: string, key: string): JsonObject | null {
  const prefix = `{"${key}":`;
  const lines = output.split('\n');
  for (let index = lines.length - 1; index >= 0; index--) {
    const line = lines[index]!.trim();
    if (!line.startsWith(prefix)) continue;
    try {
      const parsed: unknown = JSON.parse(line);
      if (isObject(parsed) && isObject(parsed[key])) return parsed[key];
    } catch {
      // A truncated or interleaved line: keep looking at earlier ones.
    }
  }
  return null;
}

export function parseKvmLoopReport(stdout: string): KvmLoopReport | null {
  const report = findJsonReport(stdout, 'kvmLoop');
  if (report === null) return null;
  const { exits, pioExits, startToFirstRunNs, runLoopNs, totalNs } = report;
  if (!isCount(exits) || !isCount(pioExits) || !isCount(startToFirstRunNs) || !isCount(runLoopNs) || !isCount(totalNs)) {
    return null;
  }
  return { exits, pioExits, startToFirstRunNs, runLoopNs, totalNs };
}

/**
 * Sums exit counts in any of the shapes a VMM may report them:
 * a number (a total), {reason: count}, {vcpus: [...]} or an array of
 * either (per vCPU, possibly as {exits: {...}}). With `reason`, only that
 * reason's counts are summed; a plain number has no reason and gives null.
 */
export function sumExitCounts(value: unknown, reason?: string): number | null {
  if (isCount(value)) return reason === undefined ? value : null;
  if (Array.isArray(value)) {
    let total: number | null = null;
    for (const item of value) {
      const count = sumExitCounts(isObject(item) && 'exits' in item ? item['exits'] : item, reason);
      if (count !== null) total = (total ?? 0) + count;
    }
    return total;
  }
  if (!isObject(value)) return null;
  if (Array.isArray(value['vcpus'])) return sumExitCounts(value['vcpus'], reason);
  if (reason !== undefined) return isCount(value[reason]) ? value[reason] : null;
  if (isCount(value['total'])) return value['total'];
  const counts = Object.values(value).filter(isCount);
  return counts.length > 0 ? counts.reduce((sum, count) => sum + count, 0) : null;
}

export function parseTkvmTiming(stderr: string): TkvmTimingReport | null {
  const report = findJsonReport(stderr, 'tkvmTiming');
  if (report === null) return null;
  const start = report['startToFirstRunMs'];
  return {
    startToFirstRunMs: typeof start === 'number' && Number.isFinite(start) && start >= 0 ? start : null,
    ioExits: sumExitCounts(report['exits'], 'io'),
  };
}

/** The count in the guest's `pio-loop done N` line, or null if absent. */
export function guestDoneCount(output: string): number | null {
  const matches = [...output.matchAll(/pio-loop done (\d+)/g)];
  const last = matches.at(-1);
  return last ? Number(last[1]) : null;
}
