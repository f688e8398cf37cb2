/**
 * Human-friendly byte sizes for command-line flags such as `--mem 512M`.
 *
 * Units are binary (IEC 80000-13): K = KiB = 1024 bytes, M = MiB, G = GiB,
 * T = TiB. The suffix is case-insensitive and may be followed by `B` or `iB`
 * (`512M`, `512MB`, `512MiB`, `512m` are all 536870912 bytes); a plain
 * number, optionally with a `B` suffix, is a byte count. A fraction is
 * accepted only when it lands on a whole byte (`1.5G`, `0.5K`, not `0.3K`).
 * Exact arithmetic (BigInt) is used throughout, so results never depend on
 * floating-point rounding.
 */

import { UsageError } from '../util/errors.js';
import { quoteForMessage } from './quote.js';

const UNIT_EXPONENT: Record<string, number> = { '': 0, K: 1, M: 2, G: 3, T: 4 };
const UNIT_NAMES = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** Longer inputs are certainly not sizes; bounding them bounds the BigInt work. */
const MAX_SIZE_TEXT_LENGTH = 64;

/**
 * `<digits>[.<digits>][[ ]<K|M|G|T>[B|iB] | [ ]B]`: one optional space before
 * the suffix, `iB` only after a unit letter. Groups: integer part, fraction
 * digits, unit letter.
 */
const SIZE_PATTERN = /^(\d+)(?:\.(\d+))?(?: ?([kmgt])(?:i?b)?| ?b)?$/i;

/**
 * Parses a size such as `512M` into bytes.
 * @param what names the value in the error message (e.g. `--mem`).
 * @throws UsageError (one line, exit status 2) for anything that is not a
 *   non-negative whole number of bytes up to Number.MAX_SAFE_INTEGER.
 */
export function parseSize(text: string, what = 'size'): number {
  const invalid = (problem: string): UsageError =>
    new UsageError(`invalid ${what} ${quoteForMessage(text)}: ${problem}`);

  if (text.length === 0) throw invalid('expected a size such as 512M or 2G');
  if (text.length > MAX_SIZE_TEXT_LENGTH) throw invalid('too long');
  if (text.trimStart().startsWith('-')) throw invalid('a size cannot be negative');

  const match = SIZE_PATTERN.exec(text);
  if (match === null) {
    throw invalid('expected a number with an optional K, M, G or T suffix (binary units), such as 512M');
  }
  const integerDigits = match[1] ?? '';
  const fractionDigits = match[2] ?? '';
  const unit = (match[3] ?? '').toUpperCase();

  const unitBytes = 1024n ** BigInt(UNIT_EXPONENT[unit] ?? 0);
  const denominator = 10n ** BigInt(fractionDigits.length);
  const numerator = BigInt(integerDigits + fractionDigits) * unitBytes;
  if (numerator % denominator !== 0n) {
    throw invalid('the fraction does not come to a whole number of bytes');
  }
  const bytes = numerator / denominator;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid('too large');
  return Number(bytes);
}

/** How many decimals formatSize shows before falling back to a smaller unit. */
const MAX_FORMAT_DECIMALS = 3;

/**
 * Formats a byte count for people: the largest binary unit in which the
 * value is at least 1 and exact with at most three decimals (`512 MiB`,
 * `1.5 GiB`, `4097 B`). The result is exact, so
 * `parseSize(formatSize(n)) === n` for every safe non-negative integer n.
 */
export function formatSize(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new RangeError(`formatSize: not a byte count: ${bytes}`);
  }
  const value = BigInt(bytes);
  for (let exponent = UNIT_NAMES.length - 1; exponent > 0; exponent--) {
    const unitBytes = 1024n ** BigInt(exponent);
    if (value < unitBytes) continue;
    const decimals = exactDecimals(value, unitBytes, MAX_FORMAT_DECIMALS);
    if (decimals !== null) return `${decimals} ${UNIT_NAMES[exponent]}`;
  }
  return `${bytes} B`;
}

/**
 * `numerator / denominator` written in decimal with at most `maxDecimals`
 * fraction digits (trailing zeros dropped), or null when that is not exact.
 */
function exactDecimals(numerator: bigint, denominator: bigint, maxDecimals: number): string | null {
  const scale = 10n ** BigInt(maxDecimals);
  const scaled = numerator * scale;
  if (scaled % denominator !== 0n) return null;
  const fixed = scaled / denominator;
  const integerPart = fixed / scale;
  const fractionPart = (fixed % scale).toString().padStart(maxDecimals, '0').replace(/0+$/, '');
  return fractionPart === '' ? integerPart.toString() : `${integerPart}.${fractionPart}`;
}
