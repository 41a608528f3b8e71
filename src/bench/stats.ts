// Summary statistics of the benchmarks: one definition, unit-tested (test/sweep.test.ts).

/** Median: the middle value, or the mean of the two middle values of an even count. NaN for no values. */
export function median(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * Percentile by the nearest-rank method: the smallest value with at least p% of the values at or below
 * it (rank ceil(p/100 * n), 1-based). p99 of fewer than 100 values is the largest one. NaN for no values.
 */
export function percentile(xs: readonly number[], p: number): number {
  if (!xs.length) return NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile: ${p} is not in 0..100`);
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export const round1 = (x: number) => Math.round(x * 10) / 10;
export const round2 = (x: number) => Math.round(x * 100) / 100;
