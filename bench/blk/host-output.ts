/**
 * Parser for bench/blk/host-io.c's stdout: one line per pass,
 * {"hostIo":{"pass":P,"requests":N,"bytes":B,"ns":T,"tscTicks":K}}.
 * Malformed or truncated lines are skipped; the harness decides whether
 * the passes it got are enough.
 */

export interface HostPass {
  pass: number;
  requests: number;
  bytes: number;
  /** CLOCK_MONOTONIC time of the pass, ns. */
  ns: number;
  /** TSC ticks over the same interval (0 where the host has no TSC). */
  tscTicks: number;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export function parseHostIoOutput(stdout: string): HostPass[] {
  const passes: HostPass[] = [];
  for (const raw of stdout.split('\n')) {
    const line = raw.trim();
    if (!line.startsWith('{"hostIo":')) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue;
    }
    const report = (parsed as { hostIo?: unknown }).hostIo;
    if (typeof report !== 'object' || report === null) continue;
    const { pass, requests, bytes, ns, tscTicks } = report as Record<string, unknown>;
    if (!isCount(pass) || !isCount(requests) || !isCount(bytes) || !isCount(ns) || !isCount(tscTicks) || ns === 0) continue;
    passes.push({ pass, requests, bytes, ns, tscTicks });
  }
  return passes;
}
