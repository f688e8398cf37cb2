/** Small statistics helpers for benchmark samples. */

/** The median of a non-empty list (mean of the middle two for even lengths). */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) throw new RangeError('median of an empty sample');
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[middle]!
    : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * Cost of one extra exit, from two runs that differ only in how many exits
 * the guest makes: (T(long) - T(short)) / (long - short). Fixed costs
 * (process start, VM set-up, guest start-up and shutdown) appear in both
 * runs and cancel. Times and result share a unit.
 */
export function marginalCostPerExit(
  shortTime: number,
  shortExits: number,
  longTime: number,
  longExits: number,
): number {
  if (!(longExits > shortExits)) {
    throw new RangeError(`long run needs more exits than the short one (${longExits} <= ${shortExits})`);
  }
  return (longTime - shortTime) / (longExits - shortExits);
}

/** Rounds to a fixed number of decimals, for stable JSON output. */
export function roundTo(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  return Math.round(value * scale) / scale;
}
