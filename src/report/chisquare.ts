// Pearson's chi-square goodness-of-fit test: does an observed split of new flows over a service's backends
// match the split its endpoint selection promises? Written here rather than taken from a statistics package
// because all it needs is one special function (the regularized upper incomplete gamma Q), about forty
// lines, while the packages that have it bring a whole library along; test/report/chisquare.test.ts holds
// it to published table values and to the closed forms for 1 and 2 degrees of freedom.

/** ln Γ(x) for x > 0 (Lanczos approximation, g = 7, n = 9: about 15 significant digits). */
function lnGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x); // reflection
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/**
 * Q(a, x) = Γ(a, x) / Γ(a), the regularized upper incomplete gamma function: by its power series when
 * x < a + 1, else by its continued fraction (modified Lentz), as Numerical Recipes §6.2 does.
 */
export function gammaQ(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) return NaN;
  if (x === 0) return 1;
  const front = Math.exp(-x + a * Math.log(x) - lnGamma(a));
  if (x < a + 1) {
    let sum = 1 / a, term = sum;
    for (let n = 1; n < 1000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return Math.max(0, 1 - sum * front);
  }
  const tiny = 1e-300;
  let b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b; if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c; if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.min(1, h * front);
}

/** P(X >= statistic) for X chi-square distributed with `df` degrees of freedom (the test's p-value). */
export function chiSquarePValue(statistic: number, df: number): number {
  if (df <= 0) return NaN;
  return gammaQ(df / 2, statistic / 2);
}

export interface ChiSquareResult {
  /** Σ (observed − expected)² / expected over the cells with a positive expectation. */
  statistic: number;
  /** Degrees of freedom: cells with a positive expectation − 1. */
  df: number;
  /** The chance of a statistic at least this large if the selection really follows the weights; null when df < 1. */
  pValue: number | null;
  /** The smallest expected count: below 5 the chi-square approximation is poor (Cochran's rule). */
  minExpected: number;
}

/**
 * The goodness-of-fit of `observed` counts to `weights` (the same order; weights need not sum to 1). A cell
 * with weight 0 takes no part unless it received something, which makes the fit impossible (p-value 0).
 */
export function chiSquareTest(observed: readonly number[], weights: readonly number[]): ChiSquareResult {
  if (observed.length !== weights.length) throw new RangeError('chiSquareTest: observed and weights differ in length');
  const total = observed.reduce((s, v) => s + v, 0);
  const wsum = weights.reduce((s, v) => s + v, 0);
  let statistic = 0, cells = 0, minExpected = Infinity, impossible = false;
  for (let i = 0; i < observed.length; i++) {
    const e = wsum > 0 ? (total * weights[i]) / wsum : 0;
    if (e <= 0) { if (observed[i] > 0) impossible = true; continue; }
    cells++;
    statistic += (observed[i] - e) ** 2 / e;
    minExpected = Math.min(minExpected, e);
  }
  const df = cells - 1;
  if (impossible) return { statistic: Infinity, df, pValue: 0, minExpected: cells ? minExpected : 0 };
  return { statistic, df, pValue: df >= 1 ? chiSquarePValue(statistic, df) : null, minExpected: cells ? minExpected : 0 };
}
