/**
 * The logger devices report guest faults to. A guest can fault on every
 * request, so device logs are rate limited: after `limit` messages one
 * line says that further ones are suppressed.
 */

export interface DeviceLogger {
  warn(message: string): void;
}

/** Wraps `sink`, passing through at most `limit` warnings. */
export function limitedLogger(sink: DeviceLogger, limit = 100): DeviceLogger & { readonly dropped: number } {
  let count = 0;
  let dropped = 0;
  return {
    warn(message: string): void {
      if (count < limit) sink.warn(message);
      else if (count === limit) sink.warn('further device warnings suppressed');
      if (count > limit) dropped++;
      count++;
    },
    get dropped(): number {
      return dropped;
    },
  };
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: DeviceLogger = { warn() {} };
