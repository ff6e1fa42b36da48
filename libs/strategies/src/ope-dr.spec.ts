import { fitArmModels } from './contextual-bandit';
import {
  ContextualSample,
  contextualPolicy,
  crossFittedRewards,
  evaluateOffPolicy,
  fixedPolicy,
  linearModelPolicy,
  resolveContextualTarget,
  withLoggedContexts,
} from './ope-dr';
import { addRidge, ridgeObservation } from './ridge';
import { sampleNormal, seededRng } from './rng';
import type { Weights } from './weights';

// Four decisions of a 50/50 logging policy, no features (x = [1]), two folds: {0, 2} and {1, 3}.
// Fold 0's model is fit on fold 1 (v2 rewarded 0 and 1): q̂(v1) = 0 (no data), q̂(v2) = 1/(2 + λ) = 1/3.
// Fold 1's model is fit on fold 0 (v1 rewarded 1 and 0): q̂(v1) = 1/3, q̂(v2) = 0.
const LOG: ContextualSample[] = [
  { variant: 'v1', probability: 0.5, reward: 1, x: [1] },
  { variant: 'v2', probability: 0.5, reward: 0, x: [1] },
  { variant: 'v1', probability: 0.5, reward: 0, x: [1] },
  { variant: 'v2', probability: 0.5, reward: 1, x: [1] },
];

describe(crossFittedRewards.name, () => {
  it("predicts each sample from the other folds' rewards only", () => {
    const q = crossFittedRewards(LOG, ['v1', 'v2'], { folds: 2 });
    const third = expect.closeTo(1 / 3, 12);
    expect(q).toEqual([
      [0, third],
      [third, 0],
      [0, third],
      [third, 0],
    ]);
  });
});

describe(evaluateOffPolicy.name, () => {
  it('computes DM, DR and SNDR by hand for a single variant', () => {
    // π = v1: w = [2, 0, 2, 0]; DM terms q̂(v1) = [0, 1/3, 0, 1/3], so DM = 1/6.
    // Residuals r − q̂(aᵢ) = [1, 0, 0, 1]; DR terms [0 + 2·1, 1/3, 0, 1/3]: DR = (2 + 2/3)/4 = 2/3.
    // SNDR: c = Σwe/Σw = 2/4, DM + c = 1/6 + 1/2 = 2/3 (w̄ = 1 here, so it equals DR).
    // IPS = (2·1 + 2·0)/4 = 1/2.
    const { estimates, target } = evaluateOffPolicy(LOG, fixedPolicy({ v1: 1 }), { folds: 2 });
    expect(target).toEqual({ v1: 1 });
    expect(estimates.dm.estimate).toBeCloseTo(1 / 6, 12);
    expect(estimates.dr.estimate).toBeCloseTo(2 / 3, 12);
    expect(estimates.sndr.estimate).toBeCloseTo(2 / 3, 12);
    expect(estimates.ips.estimate).toBeCloseTo(1 / 2, 12);
    // DR's interval is t (on n − 1 = 3, no units) of its terms: s² = Σ(t − 2/3)²/3 with t = [2, 1/3, 0, 1/3].
    const s = Math.sqrt(((2 - 2 / 3) ** 2 + 2 * (1 / 3 - 2 / 3) ** 2 + (2 / 3) ** 2) / 3);
    expect(estimates.dr.high - estimates.dr.low).toBeCloseTo(2 * 3.182446305284263 * (s / 2), 9);
    expect(estimates.dr.ess).toBeCloseTo(2, 12);
  });

  it('clusters the intervals of DR, SNDR, DM and IPS by unit, a sample without a unit its own cluster', () => {
    // The log above with samples 0 and 1 in unit a, 2 in unit b, 3 without a unit: K = 3, K/(K − 1) = 3/2, n = 4.
    // DR terms [2, 1/3, 0, 1/3] − 2/3 = [4/3, −1/3, −2/3, −1/3]; per unit a 1, b −2/3, own −1/3:
    //   Σ² = 1 + 4/9 + 1/9 = 14/9, Var = 3/2 · 14/9 / 16 = 7/48.
    // SNDR linearised terms dmᵢ + wᵢ(eᵢ − c)/w̄ = [1, 1/3, −1, 1/3], mean 1/6, residuals [5/6, 1/6, −7/6, 1/6];
    //   per unit a 1, b −7/6, own 1/6: Σ² = 1 + 49/36 + 1/36 = 43/18, Var = 3/2 · 43/18 / 16 = 43/192.
    // IPS terms [2, 0, 0, 0] − 1/2; per unit a 1, b −1/2, own −1/2: Σ² = 3/2, Var = 9/64, se = 3/8.
    // DM: terms [0, 1/3, 0, 1/3] − 1/6, plus the model's influence n·(A⁻¹m)xᵢeᵢ: v1's fit on the whole log has
    //   A = 2 + λ = 3, θ̂ = 1/3, m = 1, so 4 · (1/3) · e with e = [2/3, −, −1/3, −] = [8/9, 0, −4/9, 0] (v2: π = 0, m = 0).
    //   Sums [13/18, 3/18, −11/18, 3/18]; per unit a 8/9, b −11/18, own 1/6: Σ² = 386/324 = 193/162, Var = 3/2 · 193/162 / 16 = 193/1728.
    // t: the target uses samples 0 (unit a) and 2 (unit b), w = 2 each, so G* = 2 (`effectiveClusters`): t on 1.
    const units = ['a', 'a', 'b', undefined];
    const log = LOG.map((sample, i) => ({ ...sample, ...(units[i] && { unit: units[i] }) }));
    const { estimates } = evaluateOffPolicy(log, fixedPolicy({ v1: 1 }), { folds: 2 });
    const t = 12.706204736174707;
    expect(estimates.dr.estimate).toBeCloseTo(2 / 3, 12);
    expect(estimates.dr.high - estimates.dr.low).toBeCloseTo(2 * t * Math.sqrt(7 / 48), 9);
    expect(estimates.sndr.estimate).toBeCloseTo(2 / 3, 12);
    expect(estimates.sndr.high - estimates.sndr.low).toBeCloseTo(2 * t * Math.sqrt(43 / 192), 9);
    expect(estimates.ips.high - estimates.ips.low).toBeCloseTo(2 * t * (3 / 8), 9);
    expect(estimates.dm.estimate).toBeCloseTo(1 / 6, 12);
    expect(estimates.dm.high - estimates.dm.low).toBeCloseTo(2 * t * Math.sqrt(193 / 1728), 9);
    // Every sample its own unit: the unclustered intervals exactly (DM's model part turns from model-based to the sandwich, so not DM).
    const own = LOG.map((sample, i) => ({ ...sample, unit: `u${i}` }));
    const [clustered, plain] = [evaluateOffPolicy(own, fixedPolicy({ v1: 1 }), { folds: 2 }), evaluateOffPolicy(LOG, fixedPolicy({ v1: 1 }), { folds: 2 })];
    for (const method of ['dr', 'sndr', 'ips'] as const) expect(clustered.estimates[method].low).toBeCloseTo(plain.estimates[method].low, 12);
  });

  it('refuses a policy whose choices the log never gave a chance, in any context', () => {
    // The target serves v3 in segment 1; v3 was never logged.
    const log: ContextualSample[] = Array.from({ length: 200 }, (_, i) => ({
      variant: i % 2 ? 'v1' : 'v2',
      probability: 0.5,
      reward: i % 3 ? 1 : 0,
      x: [1, i % 2],
    }));
    const policy = (x: readonly number[]): Weights => (x[1] ? { v3: 1 } : { v1: 1 });
    expect(evaluateOffPolicy(log, policy).refusals).toEqual([
      'variant "v3" has target probability 0.5 but was never served by the logged policy in the window',
    ]);
    expect(evaluateOffPolicy(log, fixedPolicy({ v1: 1 })).refusals).toEqual([]);
  });

  it('DR is unbiased, and less variable than IPS and SNIPS when the context explains the reward', () => {
    // Two segments; the mean reward of v1 is 0.9 / 0.3, of v2 0.2 / 0.8, with noise N(0, 0.1²).
    // The logging policy serves v1 with probability 0.8 in segment 0 and 0.2 in segment 1; the target is the reverse.
    // True value: ½(0.2·0.9 + 0.8·0.2) + ½(0.8·0.3 + 0.2·0.8) = ½·0.34 + ½·0.40 = 0.37.
    const means = [
      [0.9, 0.2],
      [0.3, 0.8],
    ];
    const logging = [0.8, 0.2];
    const target = (x: readonly number[]) => ({ v1: 1 - logging[x[1]], v2: logging[x[1]] });
    const rng = seededRng(5);
    const runs: Record<'dr' | 'ips' | 'snips', number[]> = { dr: [], ips: [], snips: [] };
    for (let run = 0; run < 100; run++) {
      const log: ContextualSample[] = Array.from({ length: 400 }, () => {
        const segment = rng() < 0.5 ? 0 : 1;
        const first = rng() < logging[segment];
        const reward = sampleNormal(rng, means[segment][first ? 0 : 1], 0.1);
        return { variant: first ? 'v1' : 'v2', probability: first ? logging[segment] : 1 - logging[segment], reward, x: [1, segment] };
      });
      const { estimates } = evaluateOffPolicy(log, target);
      for (const method of ['dr', 'ips', 'snips'] as const) runs[method].push(estimates[method].estimate);
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = (xs: number[]) => Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1));
    expect(Math.abs(mean(runs.dr) - 0.37)).toBeLessThan(0.005);
    expect(sd(runs.dr)).toBeLessThan(0.7 * sd(runs.ips));
    expect(sd(runs.dr)).toBeLessThan(0.7 * sd(runs.snips));
  });
});

describe(contextualPolicy.name, () => {
  it("is the bandit's weights at each context, the same every time it is asked", () => {
    const models = fitArmModels(
      [
        { name: 'a', stats: addRidge(ridgeObservation([1, 0], 1), ridgeObservation([1, 0], 1)) },
        { name: 'b', stats: addRidge(ridgeObservation([1, 1], 1), ridgeObservation([1, 1], 1)) },
      ],
      { rewardKind: 'binary', dimension: 2 },
    );
    const policy = contextualPolicy('linear-thompson', models, { samples: 500 });
    expect(policy([1, 0])).toEqual(policy([1, 0]));
    expect(policy([1, 0]).a).toBeGreaterThan(0.5);
    expect(policy([1, 1]).b).toBeGreaterThan(0.5);
  });
});

describe(withLoggedContexts.name, () => {
  const logged = (context?: number[]) => ({ variant: 'v1', probability: 0.5, reward: 1, ...(context && { context }) });

  it('fits on the logged contexts when every sample carries one of the same length', () => {
    expect(withLoggedContexts([logged([1, 0]), logged([1, 1])])).toEqual({
      samples: [
        { variant: 'v1', probability: 0.5, reward: 1, x: [1, 0] },
        { variant: 'v1', probability: 0.5, reward: 1, x: [1, 1] },
      ],
      rewardModel: 'context',
    });
  });

  it('falls back to the variant means when a context is missing or of another length', () => {
    for (const log of [
      [logged([1, 0]), logged()],
      [logged([1, 0]), logged([1, 0, 1])],
      [logged(), logged()],
    ]) {
      const { samples, rewardModel } = withLoggedContexts(log);
      expect(rewardModel).toBe('variant-means');
      expect(samples.map((s) => s.x)).toEqual([[1], [1]]);
    }
  });
});

describe(linearModelPolicy.name, () => {
  const models = { v1: [1, -1], v2: [0, 1], v3: [0, 0] };

  it('serves the variant of the largest xᵀθ, splitting ties', () => {
    const policy = linearModelPolicy(models);
    expect(policy([1, 0])).toEqual({ v1: 1, v2: 0, v3: 0 }); // xᵀθ: 1, 0, 0
    expect(policy([1, 1])).toEqual({ v1: 0, v2: 1, v3: 0 }); // 0, 1, 0
    expect(policy([1, 0.5])).toEqual({ v1: 0.5, v2: 0.5, v3: 0 }); // 0.5, 0.5, 0
  });

  it("with γ, SquareCB's inverse gap weighting of xᵀθ", () => {
    const policy = linearModelPolicy(models, 4);
    // xᵀθ 1, 0, 0: v2 and v3 each 1/(3 + 4·1) = 1/7, v1 the rest 5/7.
    expect(policy([1, 0])).toEqual({ v1: expect.closeTo(5 / 7, 12), v2: expect.closeTo(1 / 7, 12), v3: expect.closeTo(1 / 7, 12) });
    // 0.5, 0.5, 0: v3 1/(3 + 2) = 1/5; v1 and v2 1/3 each plus half the rest (1 − 2/3 − 1/5)/2.
    expect(policy([1, 0.5])).toEqual({ v1: expect.closeTo(0.4, 12), v2: expect.closeTo(0.4, 12), v3: expect.closeTo(0.2, 12) });
  });
});

describe(resolveContextualTarget.name, () => {
  it('reads the dimension of given models, and refuses stored models that are not readable', () => {
    expect(resolveContextualTarget({ models: { v1: [1, 2, 3] } })?.dimension).toBe(3);
    expect(resolveContextualTarget({ models: { v1: [1, 0], v2: [0, 1] }, gamma: 0 })?.policy([1, 0])).toEqual({ v1: 0.5, v2: 0.5 });
    expect(resolveContextualTarget({ algorithm: 'linucb', fitted: { fingerprint: 'x', dimension: 2, arms: [{ name: 'v1', theta: [1] }] } })).toBeUndefined();
  });
});
