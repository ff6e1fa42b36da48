import {
  clusteredSquares,
  clippedIpsEstimate,
  countsInArmStatistics,
  effectiveSampleSize,
  effectiveClusters,
  estimatePolicyValue,
  evaluationRefusals,
  exclusionOf,
  importanceWeights,
  intervalQuantile,
  ipsEstimate,
  meanImportanceWeight,
  LoggedSample,
  snipsEstimate,
  targetProbabilities,
  wilson,
} from './ope';
import { seededRng } from './rng';
import { chooseArm } from './weights';

const sample = (variant: string, probability: number, reward: number): LoggedSample => ({ variant, probability, reward });

/** Two-sided 95 % quantiles, from tables: the normal, and Student's t on 3, 7 and 99 degrees of freedom. */
const Z95 = 1.959963984540054;
const T95 = { 3: 3.182446305284263, 7: 2.364624251592785, 99: 1.984216951835 };

// Four logged requests, weights worked out by hand in each test.
const LOG = [sample('v1', 0.5, 1), sample('v2', 0.5, 0), sample('v1', 0.25, 0), sample('v2', 0.75, 1)];

describe(targetProbabilities.name, () => {
  it('puts everything on the one variant of a single, and on the primary of a shadow', () => {
    expect(targetProbabilities({ type: 'single', variant: 'v2' })).toEqual({ v2: 1 });
    expect(targetProbabilities({ type: 'shadow', primary: 'v1' })).toEqual({ v1: 1 });
  });

  it('splits a canary by its share of units', () => {
    expect(targetProbabilities({ type: 'canary', primary: 'v1', canary: 'v2', percent: 10 })).toEqual({ v1: 0.9, v2: 0.1 });
  });

  it('scales fixed bandit weights to sum to 1', () => {
    expect(targetProbabilities({ type: 'bandit', weights: { v1: 1, v2: 3 } })).toEqual({ v1: 0.25, v2: 0.75 });
  });
});

describe('estimators on a hand-computed log', () => {
  it('weighs each request by target / logged probability', () => {
    expect(importanceWeights(LOG, { v1: 1 })).toEqual([2, 0, 4, 0]);
    expect(effectiveSampleSize([2, 0, 4, 0])).toBeCloseTo(36 / 20, 12);
  });

  it('IPS: (1/n) Σ w r', () => {
    const sut = ipsEstimate(LOG, { v1: 1 });
    expect(sut.estimate).toBeCloseTo(0.5, 12);
    expect(sut.meanWeight).toBeCloseTo(1.5, 12);
    // Terms w·r = [2, 0, 0, 0]: mean 0.5, sample variance 1, se = 1/√4; no units: t on n − 1 = 3.
    expect(sut.high - sut.estimate).toBeCloseTo(T95[3] * 0.5, 9);
  });

  it('SNIPS: Σ w r / Σ w', () => {
    expect(snipsEstimate(LOG, { v1: 1 }).estimate).toBeCloseTo(2 / 6, 12);
    // 50/50: w = [1, 1, 2, 2/3]; Σwr = 1 + 2/3; Σw = 14/3.
    expect(snipsEstimate(LOG, { v1: 0.5, v2: 0.5 }).estimate).toBeCloseTo(5 / 14, 12);
  });

  it('SNIPS with unbounded rewards: the delta-method interval √(Σ w²(r − V)²) / Σw', () => {
    const log = LOG.map((s) => ({ ...s, reward: 2 * s.reward })); // rewards 2, 0, 0, 2: not in [0, 1]
    const sut = snipsEstimate(log, { v1: 1 });
    const v = 4 / 6;
    const se = Math.sqrt(4 * (2 - v) ** 2 + 16 * v ** 2) / 6;
    expect(sut.estimate).toBeCloseTo(v, 12);
    expect(sut.low).toBeCloseTo(v - T95[3] * se, 9);
    expect(sut.high).toBeCloseTo(v + T95[3] * se, 9);
  });

  it('clipped IPS caps every weight', () => {
    // w = [2, 0, 3 (4 capped), 0]; the capped one has reward 0, so the estimate is unchanged, the weights are not.
    const sut = clippedIpsEstimate(LOG, { v1: 1 }, 3);
    expect(sut.estimate).toBeCloseTo(0.5, 12);
    expect(sut.meanWeight).toBeCloseTo(5 / 4, 12);
  });

  it('chooses SNIPS by default', () => {
    expect(estimatePolicyValue(LOG, { v1: 1 })).toEqual(snipsEstimate(LOG, { v1: 1 }));
    expect(estimatePolicyValue(LOG, { v1: 1 }, { method: 'ips' }).method).toBe('ips');
  });
});

describe('on-policy evaluation', () => {
  // Logged by the target policy itself: every weight is 1.
  const rewards = [3, 1, 4, 1, 5, 9, 2, 6];
  const log = rewards.map((r, i) => sample(i % 2 ? 'a' : 'b', 0.5, r));
  const target = { a: 0.5, b: 0.5 };
  const plainMean = rewards.reduce((s, r) => s + r, 0) / rewards.length;

  it.each(['snips', 'ips', 'clipped-ips'] as const)('%s equals the plain mean, with ESS n and mean weight 1', (method) => {
    const sut = estimatePolicyValue(log, target, { method });
    expect(sut.estimate).toBeCloseTo(plainMean, 12);
    expect(sut.ess).toBeCloseTo(rewards.length, 12);
    expect(sut.meanWeight).toBeCloseTo(1, 12);
  });

  it('SNIPS gives the mean with variance Σ(r − r̄)²/n²', () => {
    const sut = snipsEstimate(log, target);
    const se = Math.sqrt(rewards.reduce((s, r) => s + (r - plainMean) ** 2, 0)) / rewards.length;
    expect(sut.high - sut.estimate).toBeCloseTo(T95[7] * se, 9);
  });
});

describe(wilson.name, () => {
  it('matches the published Wilson interval for 50 of 100 and 0 of 10', () => {
    const [low, high] = wilson(0.5, 100, Z95);
    expect(low).toBeCloseTo(0.4038, 4);
    expect(high).toBeCloseTo(0.5962, 4);
    // 0 of 10: [0, z²/(n + z²)] = [0, 0.2775]
    expect(wilson(0, 10, Z95)[0]).toBe(0);
    expect(wilson(0, 10, Z95)[1]).toBeCloseTo(0.2775, 4);
  });

  it('holds the observed proportion, exactly at 0 and 1 of any n', () => {
    for (let n = 1; n <= 500; n++) {
      expect([n, wilson(1, n, Z95)[1]]).toEqual([n, 1]);
      expect([n, wilson(0, n, Z95)[0]]).toEqual([n, 0]);
    }
  });

  it('is used by SNIPS for rewards in [0, 1] on-policy, at n, with t on n − 1', () => {
    const log = Array.from({ length: 100 }, (_, i) => sample('a', 1, i < 50 ? 1 : 0));
    const sut = snipsEstimate(log, { a: 1 });
    // Wilson at p̂ = 1/2, n = 100, t = 1.98422: 1/2 ± t/(1 + t²/n) · √(1/400 + t²/40000) = 1/2 ± 1.90904 · 0.050974 = 1/2 ± 0.09731 (z: ± 0.0962).
    const half = (T95[99] / (1 + T95[99] ** 2 / 100)) * Math.sqrt(0.25 / 100 + T95[99] ** 2 / 40000);
    expect(half).toBeCloseTo(0.09731, 5);
    expect(sut.low).toBeCloseTo(0.5 - half, 9);
    expect(sut.high).toBeCloseTo(0.5 + half, 9);
  });
});

describe('unbiasedness with known propensities', () => {
  it('recovers each arm mean and a mixture from traffic logged 60/30/10', () => {
    const rng = seededRng(11);
    const logging = { v1: 0.6, v2: 0.3, v3: 0.1 };
    const accuracy: Record<string, number> = { v1: 0.7, v2: 0.8, v3: 0.9 };
    const log = Array.from({ length: 50_000 }, () => {
      const { variant, probability } = chooseArm(logging, rng);
      return sample(variant, probability, rng() < accuracy[variant] ? 1 : 0);
    });
    for (const [target, truth] of [
      [{ v3: 1 }, 0.9],
      [{ v1: 1 }, 0.7],
      [{ v1: 0.5, v3: 0.5 }, 0.8],
    ] as const) {
      for (const method of ['snips', 'ips'] as const) {
        const sut = estimatePolicyValue(log, target, { method });
        expect(sut.low).toBeLessThan(truth);
        expect(sut.high).toBeGreaterThan(truth);
        expect(Math.abs(sut.estimate - truth)).toBeLessThan(0.02);
      }
      expect(Math.abs(estimatePolicyValue(log, target).meanWeight - 1)).toBeLessThan(0.03);
    }
  });
});

describe(meanImportanceWeight.name, () => {
  it('is 1 in expectation over every decision, fallbacks counted by the variant chosen', () => {
    // Chosen 50/50 between v1 and v2; v2's choices half fell back to v1 (answered by v1, logged as v2's).
    const decisions = [sample('v1', 0.5, 1), sample('v1', 0.5, 0), sample('v2', 0.5, 1), sample('v2', 0.5, 0)];
    expect(meanImportanceWeight(decisions, { v1: 1 })).toBe(1);
    // Leaving out the two fallen-back choices would read 2 / 2 + ... : the drift the self-check must not show.
    expect(meanImportanceWeight(decisions.slice(0, 3), { v1: 1 })).toBeCloseTo(4 / 3, 12);
  });
});

describe(evaluationRefusals.name, () => {
  const many = (variant: string, n: number, p: number) => Array.from({ length: n }, (_, i) => sample(variant, p, i % 2));

  it('refuses a policy that uses a variant never served', () => {
    expect(evaluationRefusals(many('v1', 100, 0.5), { v1: 0.5, v3: 0.5 })).toEqual([
      'variant "v3" has target probability 0.5 but was never served by the logged policy in the window',
    ]);
  });

  it('refuses when the effective sample size is below the threshold, overall or for one variant', () => {
    expect(evaluationRefusals(many('v1', 20, 0.5), { v1: 1 })[0]).toMatch(/effective sample size 20 is below 30/);
    expect(evaluationRefusals([...many('v1', 200, 0.9), ...many('v2', 10, 0.1)], { v1: 0.5, v2: 0.5 })).toEqual([
      'variant "v2" has an effective sample size of 10, below 30: the logged traffic says too little about it',
    ]);
  });

  it('refuses when one unit is behind every sample the policy uses', () => {
    const log = [...many('v1', 40, 0.5).map((s) => ({ ...s, unit: 'big' })), ...many('v2', 40, 0.5).map((s, i) => ({ ...s, unit: `u${i}` }))];
    expect(evaluationRefusals(log, { v1: 1 })).toEqual(['every sample this policy uses comes from one unit: an interval needs at least two']);
    expect(evaluationRefusals(log, { v2: 1 })).toEqual([]);
  });

  it('refuses an empty window, and accepts enough traffic', () => {
    expect(evaluationRefusals([], { v1: 1 })).toEqual(['no joined, served traffic was logged in the window']);
    expect(evaluationRefusals(many('v1', 100, 0.5), { v1: 1 })).toEqual([]);
  });
});

describe('fallback answers', () => {
  const event = { role: 'served' as const, probability: 0.1, reward: 1 };

  it('are left out of the estimators, with shadows and events without a propensity', () => {
    expect(exclusionOf({ ...event })).toBeUndefined();
    expect(exclusionOf({ ...event, fallbackFrom: 'v2' })).toBe('fallback');
    expect(exclusionOf({ ...event, role: 'shadow' })).toBe('shadow');
    expect(exclusionOf({ ...event, probability: 0 })).toBe('no-propensity');
  });

  it('do not count in the arm statistics; shadow and chosen answers do', () => {
    expect(countsInArmStatistics({ role: 'served' })).toBe(true);
    expect(countsInArmStatistics({ role: 'shadow' })).toBe(true);
    expect(countsInArmStatistics({ role: 'served', fallbackFrom: 'v2' })).toBe(false);
  });
});

describe(effectiveClusters.name, () => {
  it('is n without units, and when every unit has one sample', () => {
    expect(effectiveClusters([{}, {}, {}, {}, {}], [1, 5, 0, 2, 1], [1, -1, 0, 2, -2])).toBe(5);
    expect(effectiveClusters([{ unit: 'a' }, { unit: 'b' }, {}], [1, 9, 1], [1, 2, 3])).toBe(3);
  });

  it('is K for K clusters of equal size and weight, whatever their residuals', () => {
    const samples = ['a', 'b', 'c', 'd'].flatMap((unit) => [{ unit }, { unit }, { unit }]);
    const residuals = [1, 1, 1, -2, 0, 1, 0.5, -1, 3, 0, 0, -0.1];
    expect(effectiveClusters(samples, new Array(12).fill(2), residuals)).toBeCloseTo(4, 12);
    // Four clusters: t on 3 degrees of freedom.
    expect(intervalQuantile(samples, new Array(12).fill(2), residuals, 0.95)).toBeCloseTo(T95[3], 9);
  });

  it('matches a hand computation with unequal clusters and the estimated ρ', () => {
    // Units a: w [1, 1], u [1, 0]; b: w [1, 1], u [1, 1]; c: w [2], u [−2]; d: w [0] (the target never uses it).
    // Σu² = 7, Σw² = 8; Σ_g[(Σu)² − Σu²] = 0 + 2 + 0 = 2; Σ_g[(Σw)² − Σw²] = 2 + 2 + 0 = 4: ρ̂ = (2/4)/(7/8) = 4/7.
    // γ_g = Σw² + ρ̂((Σw)² − Σw²): a, b 2 + 8/7 = 22/7, c 4 = 28/7. G* = 72² / (22² + 22² + 28²) = 5184/1752 = 216/73.
    const samples = [{ unit: 'a' }, { unit: 'a' }, { unit: 'b' }, { unit: 'b' }, { unit: 'c' }, { unit: 'd' }];
    expect(effectiveClusters(samples, [1, 1, 1, 1, 2, 0], [1, 0, 1, 1, -2, -0.9])).toBeCloseTo(216 / 73, 12);
  });

  it('leaves no interval when one unit carries every used sample', () => {
    const samples = [{ unit: 'a' }, { unit: 'a' }, { unit: 'b' }];
    expect(effectiveClusters(samples, [1, 1, 0], [0.5, -0.5, 0])).toBe(1);
    expect(intervalQuantile(samples, [1, 1, 0], [0.5, -0.5, 0], 0.95)).toBeNaN();
  });
});

describe(clusteredSquares.name, () => {
  it('sums the residuals of a unit before squaring, with K/(K − 1); samples without a unit are their own clusters', () => {
    // Units a: 1 + 2, b: −1; one sample without a unit: −2. K = 3: (9 + 1 + 4) · 3/2.
    const samples = [{ unit: 'a' }, { unit: 'a' }, { unit: 'b' }, {}];
    expect(clusteredSquares(samples, [1, 2, -1, -2])).toEqual({ squares: 14, correction: 1.5 });
  });

  it('is the sample-by-sample sum, uncorrected, without units', () => {
    expect(clusteredSquares([{}, {}, {}], [1, -2, 3])).toEqual({ squares: 14, correction: 1 });
  });
});

describe('intervals clustered by unit', () => {
  /** A sticky canary's log: 40 units of 25 requests, each unit right or wrong on all of them (the extreme of correlation). */
  const log = (withUnits: boolean): LoggedSample[] =>
    Array.from({ length: 1000 }, (_, i) => {
      const unit = Math.floor(i / 25);
      return {
        variant: unit % 10 === 0 ? 'v2' : 'v1',
        probability: unit % 10 === 0 ? 0.1 : 0.9,
        reward: unit % 3 === 0 ? 0 : 1,
        ...(withUnits && { unit: `u${unit}` }),
      };
    });
  const target = { v1: 0.5, v2: 0.5 };

  it('are wider when the rewards of a unit move together, for SNIPS and IPS alike', () => {
    for (const method of ['snips', 'ips'] as const) {
      const [plain, clustered] = [log(false), log(true)].map((samples) => estimatePolicyValue(samples, target, { method }));
      expect(clustered.estimate).toBe(plain.estimate);
      expect(clustered.high - clustered.low).toBeGreaterThan(3 * (plain.high - plain.low));
    }
  });

  it('take t on fewer degrees of freedom when few units carry the target: 4 units of v2 here', () => {
    const [plain, clustered] = [log(false), log(true)].map((samples) => estimatePolicyValue(samples, { v2: 1 }, { method: 'ips' }));
    // IPS terms 10·r on v2's 100 samples (units 0, 10, 20, 30: 0, 1, 1, 0), 0 elsewhere; equal units, so G* = 4: t on 3.
    const residuals = Array.from({ length: 1000 }, (_, i) => (Math.floor(i / 25) % 10 === 0 ? 10 * (Math.floor(i / 25) % 3 === 0 ? 0 : 1) : 0) - 0.5);
    const perUnit = Array.from({ length: 40 }, (_, u) => residuals.slice(25 * u, 25 * u + 25).reduce((a, b) => a + b, 0));
    const se = Math.sqrt(((40 / 39) * perUnit.reduce((a, b) => a + b * b, 0)) / 1000 ** 2);
    expect(clustered.high - clustered.estimate).toBeCloseTo(T95[3] * se, 9);
    expect(plain.estimate).toBe(clustered.estimate);
  });

  it('are the unclustered ones when every unit has one sample', () => {
    const single = log(false).map((sample, i) => ({ ...sample, unit: `own-${i}` }));
    const [plain, clustered] = [log(false), single].map((samples) => estimatePolicyValue(samples, target, { method: 'ips' }));
    expect(clustered.high - clustered.low).toBeCloseTo(plain.high - plain.low, 12);
  });
});
