import {
  clusteredSquares,
  clippedIpsEstimate,
  countsInArmStatistics,
  effectiveSampleSize,
  estimatePolicyValue,
  evaluationRefusals,
  exclusionOf,
  importanceWeights,
  ipsEstimate,
  meanImportanceWeight,
  LoggedSample,
  snipsEstimate,
  targetProbabilities,
  normalQuantile,
  wilson,
  Z95,
  zOfLevel,
} from './ope';
import { seededRng } from './rng';
import { chooseArm } from './weights';

const sample = (variant: string, probability: number, reward: number): LoggedSample => ({ variant, probability, reward });

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
    // Terms w·r = [2, 0, 0, 0]: mean 0.5, sample variance 1, se = 1/√4.
    expect(sut.high - sut.estimate).toBeCloseTo(Z95 * 0.5, 12);
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
    expect(sut.low).toBeCloseTo(v - Z95 * se, 12);
    expect(sut.high).toBeCloseTo(v + Z95 * se, 12);
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
    expect(sut.high - sut.estimate).toBeCloseTo(Z95 * se, 12);
  });
});

describe(wilson.name, () => {
  it('matches the published Wilson interval for 50 of 100 and 0 of 10', () => {
    const [low, high] = wilson(0.5, 100);
    expect(low).toBeCloseTo(0.4038, 4);
    expect(high).toBeCloseTo(0.5962, 4);
    // 0 of 10: [0, z²/(n + z²)] = [0, 0.2775]
    expect(wilson(0, 10)[0]).toBe(0);
    expect(wilson(0, 10)[1]).toBeCloseTo(0.2775, 4);
  });

  it('holds the observed proportion, exactly at 0 and 1 of any n', () => {
    for (let n = 1; n <= 500; n++) {
      expect([n, wilson(1, n)[1]]).toEqual([n, 1]);
      expect([n, wilson(0, n)[0]]).toEqual([n, 0]);
    }
  });

  it('is used by SNIPS for rewards in [0, 1] on-policy, at n', () => {
    const log = Array.from({ length: 100 }, (_, i) => sample('a', 1, i < 50 ? 1 : 0));
    const sut = snipsEstimate(log, { a: 1 });
    expect(sut.low).toBeCloseTo(0.4038, 4);
    expect(sut.high).toBeCloseTo(0.5962, 4);
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

describe(normalQuantile.name, () => {
  it('matches tabulated normal quantiles', () => {
    expect(normalQuantile(0.5)).toBeCloseTo(0, 9);
    expect(zOfLevel(0.95)).toBeCloseTo(Z95, 8);
    expect(zOfLevel(0.999)).toBeCloseTo(3.290526731, 8);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.326347874, 8);
    expect(normalQuantile(1e-6)).toBeCloseTo(-4.753424309, 7);
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

  it('are the unclustered ones when every unit has one sample', () => {
    const single = log(false).map((sample, i) => ({ ...sample, unit: `own-${i}` }));
    const [plain, clustered] = [log(false), single].map((samples) => estimatePolicyValue(samples, target, { method: 'ips' }));
    expect(clustered.high - clustered.low).toBeCloseTo(plain.high - plain.low, 12);
  });
});
