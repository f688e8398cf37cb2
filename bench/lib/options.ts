import { UsageError } from '../../src/util/errors.js';

/**
 * Parses a benchmark option that must be a whole number in [min, max];
 * accepts plain decimal digits only ("100000", not "1e5" or "0x10").
 */
export function parseCount(flag: string, text: string | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) throw new UsageError(`${flag} needs a whole number, got "${text}"`);
  const value = Number(text);
  if (value < min || value > max) throw new UsageError(`${flag} must be between ${min} and ${max}, got ${value}`);
  return value;
}
