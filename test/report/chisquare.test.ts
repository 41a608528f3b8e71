import { describe, it, expect } from 'vitest';
import { chiSquarePValue, chiSquareTest, gammaQ } from '../../src/report/chisquare.js';

describe('chi-square', () => {
  it('gives the upper-tail probabilities of the published tables', () => {
    // NIST/SEMATECH e-Handbook, table of the chi-square distribution's upper critical values.
    const table: [number, number, number][] = [
      [1, 3.841, 0.05], [1, 6.635, 0.01], [2, 5.991, 0.05], [3, 7.815, 0.05], [3, 11.345, 0.01],
      [4, 9.488, 0.05], [10, 18.307, 0.05], [10, 23.209, 0.01], [30, 43.773, 0.05], [100, 124.342, 0.05],
    ];
    for (const [df, x, p] of table) expect(chiSquarePValue(x, df)).toBeCloseTo(p, 4);
  });

  it('matches the closed forms: df 2 is exp(-x/2), df 4 is (1 + x/2) exp(-x/2)', () => {
    for (const x of [0.01, 0.5, 1, 3, 10, 40]) {
      expect(chiSquarePValue(x, 2)).toBeCloseTo(Math.exp(-x / 2), 12);
      expect(chiSquarePValue(x, 4)).toBeCloseTo((1 + x / 2) * Math.exp(-x / 2), 12);
    }
    expect(gammaQ(3, 0)).toBe(1);
  });

  it('tests observed counts against weights', () => {
    const even = chiSquareTest([100, 100, 100], [1, 1, 1]);
    expect(even).toMatchObject({ statistic: 0, df: 2, pValue: 1, minExpected: 100 });
    // 120/90/90 against 1:1:1: (400 + 100 + 100) / 100 = 6, df 2: p = exp(-3).
    const skew = chiSquareTest([120, 90, 90], [1, 1, 1]);
    expect(skew.statistic).toBeCloseTo(6, 12);
    expect(skew.pValue).toBeCloseTo(Math.exp(-3), 10);
    // Weights 2:1: expected 200 and 100.
    expect(chiSquareTest([200, 100], [2, 1]).statistic).toBe(0);
    // A weight-0 backend that got flows cannot fit; one backend alone has no degrees of freedom.
    expect(chiSquareTest([5, 1], [1, 0]).pValue).toBe(0);
    expect(chiSquareTest([5], [1])).toMatchObject({ df: 0, pValue: null });
  });
});
