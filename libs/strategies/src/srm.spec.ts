import { chiSquareUpperTail, logGamma, regularizedUpperGamma, sampleRatioMismatch, SRM_P_THRESHOLD } from './srm';

describe(logGamma.name, () => {
  it('matches Γ at known points', () => {
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 9);
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 9);
    expect(logGamma(101)).toBeCloseTo(363.73937555556347, 6); // ln(100!)
  });
});

describe(regularizedUpperGamma.name, () => {
  it('is e^-x for a = 1 on both sides of the series/continued-fraction switch', () => {
    for (const x of [0.1, 1, 1.9, 2.1, 10, 40]) expect(regularizedUpperGamma(1, x)).toBeCloseTo(Math.exp(-x), 12);
  });
});

describe(chiSquareUpperTail.name, () => {
  // Critical values from any chi-square table (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.4).
  it.each([
    [3.841, 1, 0.05],
    [6.635, 1, 0.01],
    [10.828, 1, 0.001],
    [5.991, 2, 0.05],
    [7.815, 3, 0.05],
    [18.307, 10, 0.05],
    [23.209, 10, 0.01],
    [124.342, 100, 0.05],
  ])('P(χ² ≥ %p | df %p) ≈ %p', (x, df, p) => {
    expect(chiSquareUpperTail(x, df)).toBeCloseTo(p, 4);
  });

  it('has the closed forms of df 1 and 2', () => {
    // df 2: e^(−x/2); df 1: erfc(√(x/2)), at x = 4 → 0.0455002638963584.
    for (const x of [0.5, 3, 12]) expect(chiSquareUpperTail(x, 2)).toBeCloseTo(Math.exp(-x / 2), 12);
    expect(chiSquareUpperTail(4, 1)).toBeCloseTo(0.0455002638963584, 10);
  });

  it('is 1 at 0 and 0 at infinity', () => {
    expect(chiSquareUpperTail(0, 3)).toBe(1);
    expect(chiSquareUpperTail(Infinity, 3)).toBe(0);
  });
});

describe(sampleRatioMismatch.name, () => {
  it('finds no mismatch in an exact split', () => {
    expect(sampleRatioMismatch({ v1: 900, v2: 100 }, { v1: 0.9, v2: 0.1 })).toEqual({ chi2: 0, df: 1, p: 1 });
  });

  it('computes Pearson chi-square: 5100/4900 against 50/50 is χ² = 4, p = 0.0455', () => {
    const test = sampleRatioMismatch({ a: 5100, b: 4900 }, { a: 0.5, b: 0.5 })!;
    expect(test.chi2).toBeCloseTo(4, 12);
    expect(test.df).toBe(1);
    expect(test.p).toBeCloseTo(0.0455, 4);
    expect(test.p).toBeGreaterThan(SRM_P_THRESHOLD);
  });

  it('flags a canary that gets 15 % instead of 10 %', () => {
    // χ² = 50²/900 + 50²/100 = 27.8
    const test = sampleRatioMismatch({ v1: 850, v2: 150 }, { v1: 0.9, v2: 0.1 })!;
    expect(test.chi2).toBeCloseTo(27.778, 3);
    expect(test.p).toBeLessThan(SRM_P_THRESHOLD);
  });

  it('has one degree of freedom less than the arms expected to be served', () => {
    expect(sampleRatioMismatch({ a: 100, b: 100, c: 100 }, { a: 0.5, b: 0.25, c: 0.25 })!.df).toBe(2);
  });

  it('renormalises shares that do not quite sum to 1', () => {
    expect(sampleRatioMismatch({ v1: 900, v2: 100 }, { v1: 0.899, v2: 0.1 })!.p).toBeGreaterThan(0.9);
  });

  it('gives p = 0 for traffic on an arm expected to get none, listed or not', () => {
    expect(sampleRatioMismatch({ v1: 1000, v2: 1 }, { v1: 1, v2: 0 })!.p).toBe(0);
    expect(sampleRatioMismatch({ v1: 500, v2: 500, v3: 1 }, { v1: 0.5, v2: 0.5 })!.p).toBe(0);
  });

  it('is undefined with fewer than two arms or no observations', () => {
    expect(sampleRatioMismatch({ v1: 10 }, { v1: 1 })).toBeUndefined();
    expect(sampleRatioMismatch({ v1: 0, v2: 0 }, { v1: 0.5, v2: 0.5 })).toBeUndefined();
    expect(sampleRatioMismatch({}, { v1: 0.5, v2: 0.5 })).toBeUndefined();
  });
});
