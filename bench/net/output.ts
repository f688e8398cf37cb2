/**
 * What bench/net's two programs print, parsed:
 *
 * - the net-bench guest (test/guests/scenarios/net-bench.c), through
 *   tkvm's stdout: `net-bench ready`, then per pass `net-bench begin P`,
 *   `net-bench end P` and `net-bench pass P mode=M frames=N bytes=B tsc=T
 *   kicks=K other=O seq=F..L`, then `net-bench ok` or `FAIL: ...`. The
 *   harness stamps each line as it arrives; a pass lasts from its begin
 *   line to its end line.
 * - tap-loop.c: `tap-loop pass P mode=M frames=N bytes=B ns=T` per pass
 *   (it times itself with CLOCK_MONOTONIC), `tap-loop inject frames=N`.
 */
import type { TimedLine } from '../blk/guest-output.js';

export type NetDirection = 'tx' | 'rx';

/** One measured pass of either side. */
export interface NetPass {
  pass: number;
  frames: number;
  bytes: number;
  ns: number;
}

export interface GuestNetPass extends NetPass {
  tscTicks: number;
  kicks: number;
  /** Frames the guest received that were not test frames (rx). */
  other: number;
}

export interface GuestNetReport {
  ready: boolean;
  passes: GuestNetPass[];
  ok: boolean;
  failure: string | null;
}

const PASS_LINE = /^net-bench pass (\d+) mode=(tx|rx) frames=(\d+) bytes=(\d+) tsc=(\d+) kicks=(\d+) other=(\d+) seq=(\d+)\.\.(\d+)$/;

/** Pairs the guest's begin/end/pass lines into timed passes; a pass without both markers, in order, is left out. */
export function collectNetGuestReport(lines: readonly TimedLine[]): GuestNetReport {
  const begins = new Map<number, bigint>();
  const ends = new Map<number, bigint>();
  const report: GuestNetReport = { ready: false, passes: [], ok: false, failure: null };
  for (const { line, atNs } of lines) {
    const text = line.trim();
    const marker = /^net-bench (begin|end) (\d+)$/.exec(text);
    if (marker) {
      const pass = Number(marker[2]);
      if (marker[1] === 'begin') {
        begins.set(pass, atNs);
        ends.delete(pass);
      } else if (begins.has(pass)) {
        ends.set(pass, atNs);
      }
      continue;
    }
    const match = PASS_LINE.exec(text);
    if (match) {
      const [pass, frames, bytes, tscTicks, kicks, other] = [1, 3, 4, 5, 6, 7].map((i) => Number(match[i]));
      const begin = begins.get(pass!);
      const end = ends.get(pass!);
      if (begin === undefined || end === undefined || end < begin) continue;
      if (![pass, frames, bytes, tscTicks, kicks, other].every(Number.isSafeInteger)) continue;
      report.passes.push({ pass: pass!, frames: frames!, bytes: bytes!, ns: Number(end - begin), tscTicks: tscTicks!, kicks: kicks!, other: other! });
      continue;
    }
    if (text === 'net-bench ready') report.ready = true;
    else if (text === 'net-bench ok') report.ok = true;
    else if (text.startsWith('FAIL: ')) report.failure ??= text.slice(6);
  }
  return report;
}

/** tap-loop's pass lines for `direction`; other lines are ignored. */
export function parseTapLoopPasses(stdout: string, direction: NetDirection): NetPass[] {
  const passes: NetPass[] = [];
  for (const line of stdout.split('\n')) {
    const match = /^tap-loop pass (\d+) mode=(tx|rx) frames=(\d+) bytes=(\d+) ns=(\d+)$/.exec(line.trim());
    if (!match || match[2] !== direction) continue;
    const [pass, frames, bytes, ns] = [1, 3, 4, 5].map((i) => Number(match[i]));
    if ([pass, frames, bytes, ns].every(Number.isSafeInteger) && ns! > 0) passes.push({ pass: pass!, frames: frames!, bytes: bytes!, ns: ns! });
  }
  return passes;
}

/** Frames the injector sent, from `tap-loop inject frames=N`, or null. */
export function parseInjected(stdout: string): number | null {
  const match = /^tap-loop inject frames=(\d+)$/m.exec(stdout);
  return match ? Number(match[1]) : null;
}
