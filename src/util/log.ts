/**
 * Operator log lines on stderr: `tkvm: LEVEL: message`. The level comes
 * from --log-level or TKVM_LOG. Writes are synchronous so that lines are
 * never lost on exit and never interleave with the guest console mid-line
 * (the console runs in raw mode, hence the CR before the newline).
 */
import { writeSync } from 'node:fs';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

let current: LogLevel = parseLevel(process.env['TKVM_LOG']) ?? 'warn';
/** Raw-mode terminals need "\r\n"; the console switches this on. */
let lineEnd = '\n';

export function parseLevel(value: string | undefined): LogLevel | undefined {
  return value !== undefined && value in ORDER ? (value as LogLevel) : undefined;
}

export function setLogLevel(level: LogLevel): void {
  current = level;
}

export function logLevel(): LogLevel {
  return current;
}

export function setRawTerminal(raw: boolean): void {
  lineEnd = raw ? '\r\n' : '\n';
}

export function enabled(level: LogLevel): boolean {
  return ORDER[level] <= ORDER[current];
}

export function log(level: LogLevel, message: string): void {
  if (!enabled(level)) return;
  try {
    writeSync(2, `tkvm: ${level === 'info' ? '' : `${level}: `}${message}${lineEnd}`);
  } catch { /* stderr closed: nothing better to do */ }
}

export const debug = (m: string): void => log('debug', m);
export const info = (m: string): void => log('info', m);
export const warn = (m: string): void => log('warn', m);
export const error = (m: string): void => log('error', m);
