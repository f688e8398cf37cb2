/**
 * The logger devices report guest faults to. A guest can fault on every
 * request, so device logs are rate limited per source.
 */
import { DEFAULT_RATE_LIMIT, rateLimited } from '../../util/log.js';

export interface DeviceLogger {
  warn(message: string): void;
}

/**
 * Wraps `sink` in a token bucket per `source` (util/log.ts rateLimited):
 * a burst, then a few lines a second, and one "suppressed K messages"
 * line when lines pass again.
 */
export function limitedLogger(sink: DeviceLogger, source = 'device'): DeviceLogger & { readonly dropped: number } {
  const limited = rateLimited(source, DEFAULT_RATE_LIMIT, () => performance.now(), (_level, m) => sink.warn(m));
  return {
    warn: (message: string): void => limited.warn(message),
    get dropped(): number {
      return limited.suppressed;
    },
  };
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: DeviceLogger = { warn() {} };
