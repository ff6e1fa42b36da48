import { addReward, type ArmStats, emptyStats } from './arm-stats';
import { banditWeights } from './bandit';
import { seededRng, type Rng } from './rng';
import {
  type ArmPropensitySums,
  chiSquareUpperTail,
  logGamma,
  MIN_EFFECTIVE_REQUESTS,
  propensityMismatch,
  regularizedUpperGamma,
  sampleRatioMismatch,
  SRM_P_THRESHOLD,
  unitSampled,
} from './srm';
import { assignCanary } from './canary';
import { chooseArm, fallbackArm, type Weights } from './weights';

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
  // Reference values: ln BF = lnΓ(k) − lnΓ(k + n) + Σ [lnΓ(kθ_i + x_i) − lnΓ(kθ_i) − x_i ln θ_i], k = 100,
  // computed with scipy.special.gammaln (not the Lanczos approximation used here).
  it.each([
    [{ v2: 150, v1: 850 }, { v2: 0.1, v1: 0.9 }, 9.867116863294541],
    [{ v2: 130, v1: 870 }, { v2: 0.1, v1: 0.9 }, 2.9099359288757114],
    [{ v2: 100, v1: 900 }, { v2: 0.1, v1: 0.9 }, -1.2066048002134266],
    [{ a: 120, b: 90, c: 90 }, { a: 0.5, b: 0.25, c: 0.25 }, 3.0664634016868604],
    [{ a: 51000, b: 49000 }, { a: 0.5, b: 0.5 }, 16.52467432501726],
  ])('is the Dirichlet-multinomial Bayes factor of %j against %j', (observed, shares, logBayesFactor) => {
    const test = sampleRatioMismatch(observed as Record<string, number>, shares as Record<string, number>)!;
    expect(test.logBayesFactor).toBeCloseTo(logBayesFactor, 6);
    expect(test.p).toBeCloseTo(Math.min(1, Math.exp(-logBayesFactor)), 9);
  });

  it('flags a canary that gets 15 % instead of 10 % of 1000 units, not one that gets 13 %', () => {
    expect(sampleRatioMismatch({ v1: 850, v2: 150 }, { v1: 0.9, v2: 0.1 })!.p).toBeLessThan(SRM_P_THRESHOLD);
    expect(sampleRatioMismatch({ v1: 870, v2: 130 }, { v1: 0.9, v2: 0.1 })!.p).toBeGreaterThan(SRM_P_THRESHOLD);
  });

  it('renormalises shares that do not quite sum to 1', () => {
    expect(sampleRatioMismatch({ v1: 900, v2: 100 }, { v1: 0.899, v2: 0.1 })!.p).toBe(1);
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

  it('looked at after every unit, pauses a correct 10 % split in ≤ 1 % of 200 runs of 5000 units; chi-square at 0.01 so peeked at does more', () => {
    const rng = seededRng(11);
    let [paused, chiSquarePaused] = [0, 0];
    for (let run = 0; run < 200; run++) {
      const counts = { canary: 0, primary: 0 };
      let [flagged, chiFlagged] = [false, false];
      for (let unit = 1; unit <= 5000 && !(flagged && chiFlagged); unit++) {
        counts[rng() < 0.1 ? 'canary' : 'primary']++;
        if (unit < 100) continue;
        flagged ||= sampleRatioMismatch(counts, { canary: 0.1, primary: 0.9 })!.p < 0.01;
        const expected = 0.1 * unit;
        chiFlagged ||= chiSquareUpperTail((counts.canary - expected) ** 2 / expected + (counts.canary - expected) ** 2 / (unit - expected), 1) < 0.01;
      }
      paused += +flagged;
      chiSquarePaused += +chiFlagged;
    }
    // Ville: P(ever p < 0.01) ≤ 0.01, so more than 6 of 200 has probability < 1.5 %.
    expect(paused).toBeLessThanOrEqual(6);
    expect(chiSquarePaused).toBeGreaterThan(6);
  });
});

describe(unitSampled.name, () => {
  it('keeps about 1 in `every` unit keys, always the same ones', () => {
    const keys = Array.from({ length: 20000 }, (_, i) => `user-${i}`);
    const kept = keys.filter((key) => unitSampled(key, 10));
    expect(kept.length).toBeGreaterThan(1800);
    expect(kept.length).toBeLessThan(2200);
    expect(keys.filter((key) => unitSampled(key, 10))).toEqual(kept);
    expect(keys.every((key) => unitSampled(key, 1))).toBe(true);
    expect(() => unitSampled('user-1', 0)).toThrow(RangeError);
  });

  it('keeps canary and primary units in their shares: the subsample does not follow the split', () => {
    const keys = Array.from({ length: 50000 }, (_, i) => `user-${i}`);
    const kept = keys.filter((key) => unitSampled(key, 5));
    const canary = kept.filter((key) => assignCanary('churn', key, 10) === 'canary').length;
    expect(sampleRatioMismatch({ canary, primary: kept.length - canary }, { canary: 0.1, primary: 0.9 })!.p).toBeGreaterThan(SRM_P_THRESHOLD);
  });
});

describe(propensityMismatch.name, () => {
  /** Sums of `count` requests each chosen with propensity `p`. */
  const fixed = (count: number, p: number): ArmPropensitySums => ({ sum: count / p, sumSq: count / (p * p) });

  it("is Pearson's chi-square of the arm against the rest at a fixed split, times the arms", () => {
    // 850 of 1000 at a 90/10 split: χ² = 27.78, for either arm.
    const test = propensityMismatch(1000, { v1: fixed(850, 0.9), v2: fixed(150, 0.1) }, 0.01)!;
    const chi2 = 50 ** 2 / 900 + 50 ** 2 / 100;
    expect(test.z ** 2).toBeCloseTo(chi2, 9);
    expect(test.p).toBeCloseTo(2 * chiSquareUpperTail(chi2, 1), 12);
    expect(test.p).toBeLessThan(SRM_P_THRESHOLD);
    // 5100/4900 at 50/50: |z| = 2, p = 2 · 0.0455.
    const even = propensityMismatch(10000, { a: fixed(5100, 0.5), b: fixed(4900, 0.5) }, 0.01)!;
    expect(even.tested).toBe(2);
    expect(Math.abs(even.z)).toBeCloseTo(2, 9);
    expect(even.p).toBeCloseTo(2 * 0.0455002638963584, 9);
  });

  it('finds nothing where every arm sums to the requests, whatever the propensities were', () => {
    // Arm a: 100 requests at 1/2 and 200 at 1/4 → S = 1000 = N; arm b the other 700, at 1/1.5, 1/1.25 and 3/4.
    const a = { sum: 100 * 2 + 200 * 4, sumSq: 100 * 4 + 200 * 16 };
    const b = { sum: 1000, sumSq: 500 * 1.5 ** 2 + 100 * 1.25 ** 2 + 200 * (4 / 3) ** 2 };
    const test = propensityMismatch(1000, { a, b }, 0.01)!;
    expect(test.z).toBe(0);
    expect(test.p).toBe(1);
  });

  it('uses the Hájek variance N (Q/S − 1), times the arms', () => {
    // S = 1100 against N = 1000, Q/S = 4 → V = 3000, z = 100 / √3000; three arms.
    const test = propensityMismatch(1000, { a: { sum: 1100, sumSq: 4400 }, b: fixed(300, 0.3), c: fixed(180, 0.18) }, 0.01)!;
    expect(test.arm).toBe('a');
    expect(test.z).toBeCloseTo(100 / Math.sqrt(3000), 12);
    expect(test.p).toBeCloseTo(3 * chiSquareUpperTail(10000 / 3000, 1), 12);
  });

  it('gives a deficit no smaller a p than that many requests at the floor all passing the arm by', () => {
    // S = 700 of N = 1000 with Q/S = 3: z = −300/√2000 = −6.7, but 300 requests at a 1 % floor miss an arm with p 0.049.
    const test = propensityMismatch(1000, { a: { sum: 700, sumSq: 2100 }, b: fixed(1000, 1) }, 0.01)!;
    expect(test.arm).toBe('a');
    expect(test.z).toBeCloseTo(-300 / Math.sqrt(2000), 12);
    expect(test.p).toBeCloseTo(2 * 0.99 ** 300, 12);
    // At a 5 % floor that explanation is unlikely (2·10⁻⁷) and the normal tail decides.
    expect(propensityMismatch(1000, { a: { sum: 700, sumSq: 2100 }, b: fixed(1000, 1) }, 0.05)!.p).toBeCloseTo(2 * 0.95 ** 300, 12);
    expect(propensityMismatch(1000, { a: { sum: 700, sumSq: 2100 } }, 0.2)!.p).toBeCloseTo(chiSquareUpperTail(90000 / 2000, 1), 15);
  });

  it(`leaves out arms below ${MIN_EFFECTIVE_REQUESTS} effective requests but counts them in the adjustment`, () => {
    // 20 requests at 0.02: S²/Q = 20, not tested; the other arm decides, its p doubled.
    const test = propensityMismatch(1000, { rare: fixed(20, 0.02), common: fixed(1020, 0.98) }, 0.01)!;
    expect(test).toMatchObject({ arm: 'common', tested: 1 });
    expect(test.p).toBeCloseTo(2 * chiSquareUpperTail(test.z ** 2, 1), 12);
    expect(propensityMismatch(1000, { rare: fixed(20, 0.02), none: { sum: 0, sumSq: 0 } }, 0.01)).toBeUndefined();
  });

  it('flags any departure of an arm the log says was certain to be chosen', () => {
    expect(propensityMismatch(900, { a: fixed(1000, 1), b: { sum: 0, sumSq: 0 } }, 0.01)!.p).toBe(0);
  });

  describe('simulated bandit logs (seeded)', () => {
    /** How the log goes wrong, if it does. */
    type Fault = 'none' | 'logsUniform' | 'fallbackAsOwn';

    /**
     * One Thompson bandit's log: Bernoulli rewards, labelled at once, weights recomputed by
     * `banditWeights` every 100 requests (as the updater does), so they drift from uniform
     * towards the best arm. Returns each arm's sums as the check reads them.
     */
    function simulateLog(rng: Rng, rates: number[], minShare: number, requests: number, fault: Fault): Record<string, ArmPropensitySums> {
      const names = rates.map((_, i) => `arm${i}`);
      const stats: Record<string, ArmStats> = Object.fromEntries(names.map((name) => [name, emptyStats()]));
      const sums: Record<string, ArmPropensitySums> = Object.fromEntries(names.map((name) => [name, { sum: 0, sumSq: 0 }]));
      let weights: Weights = {};
      for (let t = 0; t < requests; t++) {
        if (t % 100 === 0) {
          const arms = names.map((name) => ({ name, stats: stats[name] }));
          weights = banditWeights('thompson', arms, { rng, minShare, rewardKind: 'binary', samples: 100 });
        }
        const choice = chooseArm(weights, rng);
        // The propensity logged: right, or the uniform share of a router that logs without its weights.
        const logged = fault === 'logsUniform' ? 1 / names.length : choice.probability;
        let credited = choice.variant;
        // The last arm fails 30 % of the time and the best-weighted other arm answers; counting
        // that answer as the answering arm's own (not `fallbackFrom`'s) is the fault.
        const failed = choice.variant === names[names.length - 1] && rng() < 0.3;
        if (failed && fault === 'fallbackAsOwn') credited = fallbackArm(weights, choice.variant)!;
        sums[credited].sum += 1 / logged;
        sums[credited].sumSq += 1 / logged ** 2;
        if (!failed) stats[choice.variant] = addReward(stats[choice.variant], rng() < rates[names.indexOf(choice.variant)] ? 1 : 0);
      }
      return sums;
    }

    const SCENARIOS = [
      { name: 'a plan bandit step (2 arms, floor 0.05)', rates: [0.7, 0.8], minShare: 0.05 },
      { name: 'three arms at the default floor 0.01', rates: [0.6, 0.7, 0.8], minShare: 0.01 },
    ];

    function pValues(seed: string, runs: number, fault: Fault): { scenario: string; requests: number; p: number }[] {
      const rng = seededRng([...seed].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7));
      return SCENARIOS.flatMap(({ name, rates, minShare }) =>
        [500, 1500, 3000].flatMap((requests) =>
          Array.from({ length: runs }, () => ({
            scenario: name,
            requests,
            p: propensityMismatch(requests, simulateLog(rng, rates, minShare, requests, fault), minShare)?.p ?? 1,
          })),
        ),
      );
    }

    it('false alarms at about the nominal rate or below when the propensities are right', () => {
      const ps = pValues('right', 400, 'none');
      const rate = (level: number) => ps.filter((r) => r.p < level).length / ps.length;
      // 2400 logs: Bonferroni, the effective-requests rule and the one-sided test keep it at or below the nominal rate.
      expect(rate(0.05)).toBeLessThanOrEqual(0.05);
      expect(rate(0.05)).toBeGreaterThan(0.01);
      expect(rate(0.01)).toBeLessThanOrEqual(0.01);
      expect(rate(SRM_P_THRESHOLD)).toBeLessThanOrEqual(0.002);
    });

    it('detects a router that logs other propensities than it draws with', () => {
      const ps = pValues('uniform', 50, 'logsUniform').filter((r) => r.requests >= 1500);
      expect(ps.filter((r) => r.p < SRM_P_THRESHOLD).length).toBeGreaterThanOrEqual(0.99 * ps.length);
    });

    it("detects a failing arm's fallback answers counted as the answering arm's own", () => {
      const ps = pValues('fallback', 50, 'fallbackAsOwn');
      const detected = (scenario: string) => {
        const runs = ps.filter((r) => r.scenario === scenario && r.requests === 3000);
        return runs.filter((r) => r.p < SRM_P_THRESHOLD).length / runs.length;
      };
      expect(detected(SCENARIOS[0].name)).toBeGreaterThanOrEqual(0.9);
      expect(detected(SCENARIOS[1].name)).toBeGreaterThanOrEqual(0.3);
    });
  });
});
