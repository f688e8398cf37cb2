/**
 * Operator log lines on stderr: `tkvm: LEVEL: message`. The level comes
 * from --log-level or TKVM_LOG. Writes are synchronous so that lines are
 * never lost on exit and never interleave with the guest console mid-line
 * (the console runs in raw mode, hence the CR before the newline).
 */
import { writeSync } from 'node:fs';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** A threshold: a level, or 'off' for no operator lines at all (Firecracker's logger level Off). */
export type LogThreshold = LogLevel | 'off';

let current: LogThreshold = parseLevel(process.env['TKVM_LOG']) ?? 'warn';
/** Where lines go: stderr, or the file a Firecracker-style logger config names (setLogFd). */
let logFd = 2;
/** Raw-mode terminals need "\r\n"; the console switches this on. */
let lineEnd = '\n';

export function parseLevel(value: string | undefined): LogLevel | undefined {
  return value !== undefined && value in ORDER ? (value as LogLevel) : undefined;
}

export function setLogLevel(level: LogThreshold): void {
  current = level;
}

export function logLevel(): LogThreshold {
  return current;
}

/** Sends operator lines to `fd` (an open file or FIFO) instead of stderr; the caller owns the fd. */
export function setLogFd(fd: number): void {
  logFd = fd;
}

export function setRawTerminal(raw: boolean): void {
  lineEnd = raw ? '\r\n' : '\n';
}

export function enabled(level: LogLevel): boolean {
  return current !== 'off' && ORDER[level] <= ORDER[current];
}

export function log(level: LogLevel, message: string): void {
  if (!enabled(level)) return;
  try {
    writeSync(logFd, `tkvm: ${level === 'info' ? '' : `${level}: `}${message}${lineEnd}`);
  } catch { /* stderr closed: nothing better to do */ }
}

export const debug = (m: string): void => log('debug', m);
export const info = (m: string): void => log('info', m);
export const warn = (m: string): void => log('warn', m);
export const error = (m: string): void => log('error', m);

/** A token bucket: `burst` lines at once, then `perInterval` lines every `intervalMs`. */
export interface RateLimit {
  burst: number;
  perInterval: number;
  intervalMs: number;
}

export const DEFAULT_RATE_LIMIT: RateLimit = { burst: 20, perInterval: 5, intervalMs: 1000 };

export interface SourceLogger {
  log(level: LogLevel, message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug(message: string): void;
  /** Lines suppressed so far. */
  readonly suppressed: number;
}

/**
 * A logger for one source of messages a guest can trigger, rate limited
 * by a token bucket so a guest cannot flood the operator's log or stall
 * the main thread writing it. When lines pass again after some were
 * dropped, one "suppressed K messages from SOURCE" line comes first.
 * Writes stay synchronous; only their number is bounded.
 */
export function rateLimited(
  source: string,
  limit: RateLimit = DEFAULT_RATE_LIMIT,
  now: () => number = () => performance.now(),
  sink: (level: LogLevel, message: string) => void = log,
): SourceLogger {
  let tokens = limit.burst;
  let last = now();
  let pending = 0;
  let total = 0;
  const emit = (level: LogLevel, message: string): void => {
    if (!enabled(level) && sink === log) return; // disabled levels cost no tokens
    const t = now();
    const refill = ((t - last) / limit.intervalMs) * limit.perInterval;
    if (refill > 0) {
      tokens = Math.min(limit.burst, tokens + refill);
      last = t;
    }
    if (tokens < 1) {
      pending++;
      total++;
      return;
    }
    tokens -= 1;
    if (pending > 0) {
      sink('warn', `suppressed ${pending} messages from ${source}`);
      pending = 0;
    }
    sink(level, message);
  };
  return {
    log: emit,
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
    debug: (m) => emit('debug', m),
    get suppressed(): number {
      return total;
    },
  };
}
