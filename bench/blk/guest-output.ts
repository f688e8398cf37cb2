/**
 * What the blk-bench guest (test/guests/scenarios/blk-bench.c) prints on
 * the serial port, which tkvm passes to its stdout, and how the harness
 * turns it into per-pass timings:
 *
 *   blk-bench begin P
 *   blk-bench end P
 *   blk-bench pass P requests=N bytes=B tsc=T kicks=K
 *   blk-bench ok            (or "FAIL: ..." and exit status 35)
 *
 * The harness timestamps each line as it arrives (TimedLineSplitter); a
 * pass's wall time is end-line arrival minus begin-line arrival.
 */

export type GuestLine =
  | { kind: 'begin'; pass: number }
  | { kind: 'end'; pass: number }
  | { kind: 'pass'; pass: number; requests: number; bytes: number; tscTicks: number; kicks: number }
  | { kind: 'ok' }
  | { kind: 'fail'; reason: string };

/** One line of guest output, or null if it is not part of the protocol. */
export function parseGuestLine(line: string): GuestLine | null {
  const text = line.trim();
  let match = /^blk-bench (begin|end) (\d+)$/.exec(text);
  if (match) return { kind: match[1] as 'begin' | 'end', pass: Number(match[2]) };
  match = /^blk-bench pass (\d+) requests=(\d+) bytes=(\d+) tsc=(\d+) kicks=(\d+)$/.exec(text);
  if (match) {
    const [pass, requests, bytes, tscTicks, kicks] = match.slice(1).map(Number) as [number, number, number, number, number];
    if ([pass, requests, bytes, tscTicks, kicks].every(Number.isSafeInteger)) return { kind: 'pass', pass, requests, bytes, tscTicks, kicks };
    return null;
  }
  if (text === 'blk-bench ok') return { kind: 'ok' };
  match = /^FAIL: (.*)$/.exec(text);
  if (match) return { kind: 'fail', reason: match[1]! };
  return null;
}

/** A line of output and when its newline arrived (ns, monotonic clock). */
export interface TimedLine {
  line: string;
  atNs: bigint;
}

/**
 * Splits a stream into lines and stamps each with the arrival time of the
 * chunk that completed it. A line that never ends in "\n" is stamped at
 * finish().
 */
export class TimedLineSplitter {
  readonly lines: TimedLine[] = [];
  #partial = '';

  push(chunk: string, atNs: bigint): void {
    const parts = (this.#partial + chunk).split('\n');
    this.#partial = parts.pop()!;
    for (const line of parts) this.lines.push({ line, atNs });
  }

  finish(atNs: bigint): void {
    if (this.#partial !== '') this.lines.push({ line: this.#partial, atNs });
    this.#partial = '';
  }
}

/** One pass as the guest reported it and the harness timed it. */
export interface GuestPass {
  pass: number;
  requests: number;
  bytes: number;
  /** Time between the begin and end lines arriving, ns. */
  wallNs: number;
  /** The guest's RDTSC ticks over the pass (taken inside the markers). */
  tscTicks: number;
  /** Notify-address writes (kicks) the driver made in the pass. */
  kicks: number;
}

export interface GuestReport {
  passes: GuestPass[];
  /** "blk-bench ok" was printed. */
  ok: boolean;
  /** The guest's FAIL reason, if it printed one. */
  failure: string | null;
}

/**
 * Pairs begin/end/pass lines into passes. A pass counts only when all
 * three lines are present, in order, with the end line after the begin
 * line; incomplete passes are left out.
 */
export function collectGuestReport(lines: readonly TimedLine[]): GuestReport {
  const begins = new Map<number, bigint>();
  const ends = new Map<number, bigint>();
  const passes: GuestPass[] = [];
  let ok = false;
  let failure: string | null = null;
  for (const { line, atNs } of lines) {
    const parsed = parseGuestLine(line);
    if (parsed === null) continue;
    switch (parsed.kind) {
      case 'begin':
        begins.set(parsed.pass, atNs);
        ends.delete(parsed.pass);
        break;
      case 'end':
        if (begins.has(parsed.pass)) ends.set(parsed.pass, atNs);
        break;
      case 'pass': {
        const begin = begins.get(parsed.pass);
        const end = ends.get(parsed.pass);
        if (begin === undefined || end === undefined || end < begin) break;
        passes.push({
          pass: parsed.pass, requests: parsed.requests, bytes: parsed.bytes,
          wallNs: Number(end - begin), tscTicks: parsed.tscTicks, kicks: parsed.kicks,
        });
        break;
      }
      case 'ok':
        ok = true;
        break;
      case 'fail':
        failure ??= parsed.reason;
        break;
    }
  }
  return { passes, ok, failure };
}
