// Number forms shared by the report's renderers (terminal and HTML): the same figure reads the same in both.

/** 1234567 -> "1,234,567" (fixed locale: output does not depend on the machine's). */
export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** 0.1234 -> "12.3%". */
export function percent(x: number, digits = 1): string {
  if (!Number.isFinite(x)) return '-';
  return `${(x * 100).toFixed(digits)}%`;
}

/** A rate: 1234567 -> "1.23M", 5300 -> "5.30k", 12.5 -> "12.5". */
export function rate(x: number): string {
  if (!Number.isFinite(x)) return '-';
  if (x >= 1e9) return `${(x / 1e9).toPrecision(3)}G`;
  if (x >= 1e6) return `${(x / 1e6).toPrecision(3)}M`;
  if (x >= 1e3) return `${(x / 1e3).toPrecision(3)}k`;
  return x.toPrecision(3);
}

/** Seconds with sensible precision: 0.0123 -> "12.3 ms", 2.5 -> "2.50 s". */
export function seconds(s: number): string {
  if (s < 1) return `${(s * 1000).toPrecision(3)} ms`;
  return `${s.toPrecision(3)} s`;
}

/** A p-value: 3 significant digits, tiny ones as a power of ten ("< 1e-300" below what a double holds). */
export function pValue(p: number | null): string {
  if (p === null) return '-';
  if (p === 0) return '< 1e-300';
  if (p >= 0.001) return p.toPrecision(3);
  return p.toExponential(2);
}

/** Whether a chi-square result rejects the expected split at the 0.1% level (and the approximation holds). */
export function fitVerdict(c: { pValue: number | null; minExpected: number } | null): 'fits' | 'skewed' | 'too few flows' | null {
  if (!c || c.pValue === null) return null;
  if (c.minExpected < 5) return 'too few flows';
  return c.pValue < 0.001 ? 'skewed' : 'fits';
}
