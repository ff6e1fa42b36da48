import type { BanditStrategySpec, ContextSpec, ContextualBanditAlgorithm } from '@switchyard/contracts';
import {
  contextFingerprint,
  contextFreeAlgorithm,
  contextualDraw,
  ERA_HALF_LIVES,
  fitContextualPolicy,
  policyModels,
  readRidgeHash,
  ridgeEra,
  ridgeFromValues,
  ridgeIncrement,
  ridgeValues,
  segmentWeights,
} from './contextual-policy';
import { addRidge, ridgeObservation } from './ridge';
import { seededRng } from './rng';

type Contextual = BanditStrategySpec & { algorithm: ContextualBanditAlgorithm; context: ContextSpec };

// x = [1, segment is "y"]: the intercept and one one-hot level.
const strategy = (extra: Partial<BanditStrategySpec> = {}): Contextual =>
  ({
    type: 'bandit',
    algorithm: 'linucb',
    minShare: 0.1,
    context: { features: [{ name: 'seg', type: 'categorical', context: 'seg', levels: ['y'] }] },
    ...extra,
  }) as Contextual;

describe(ridgeIncrement.name, () => {
  it("adds [count, weight, Σwr², Σwrx, Σwxxᵀ packed] under the features' fingerprint and era 0 without forgetting", () => {
    const sut = ridgeIncrement(strategy(), { context: [1, 1], reward: 0.5, occurredAt: '2026-01-01T00:00:00Z' });
    // xxᵀ = [[1,1],[1,1]] packed (0,0),(0,1),(1,1); r x = [0.5, 0.5]; r² = 0.25.
    expect(sut).toEqual({ model: `${contextFingerprint(strategy())}.0`, values: [1, 1, 0.25, 0.5, 0.5, 1, 1, 1] });
  });

  it('weighs an observation by 2^(age in its era / half-life), in the era of its own time', () => {
    const halfLife = 60;
    const eraLength = ERA_HALF_LIVES * halfLife;
    const at = 5 * eraLength + 120;
    const sut = ridgeIncrement(strategy({ halfLifeSeconds: halfLife }), { context: [1, 0], reward: 1, occurredAt: new Date(at * 1000).toISOString() });
    // Two half-lives into era 5: weight 4.
    expect(sut).toEqual({ model: `${contextFingerprint(strategy({ halfLifeSeconds: halfLife }))}.5`, values: [1, 4, 4, 4, 0, 4, 0, 0] });
    expect(ridgeEra(at, halfLife)).toEqual({ era: 5, epoch: 5 * eraLength });
  });

  it('learns nothing from a context-free strategy, an event without a context, or one of other features', () => {
    const event = { context: [1, 1], reward: 1, occurredAt: '2026-01-01T00:00:00Z' };
    expect(ridgeIncrement({ ...strategy(), algorithm: 'thompson' } as BanditStrategySpec, event)).toBeUndefined();
    expect(ridgeIncrement(strategy(), { ...event, context: undefined })).toBeUndefined();
    expect(ridgeIncrement(strategy(), { ...event, context: [1, 0, 1] })).toBeUndefined();
  });
});

describe(readRidgeHash.name, () => {
  const fp = contextFingerprint(strategy({ halfLifeSeconds: 60 }));
  const fields = (variant: string, model: string, values: number[]) => Object.fromEntries(values.map((v, i) => [`${variant}:${model}:${i}`, String(v)]));

  it("sums an arm's eras at the newest one's epoch, and names the fields that no longer count", () => {
    const older = ridgeValues(ridgeObservation([1, 1], 1)); // weight 1 at era 4's start
    const newer = ridgeValues(ridgeObservation([1, 0], 1)); // weight 1 at era 5's start
    const hash = {
      ...fields('a', `${fp}.4`, older),
      ...fields('a', `${fp}.5`, newer),
      ...fields('a', `${fp}.2`, newer),
      ...fields('a', `0badf00d.5`, newer),
    };
    const sut = readRidgeHash(hash, strategy({ halfLifeSeconds: 60 }));
    // Era 4 is ERA_HALF_LIVES half-lives before era 5: it weighs 2^-32 at era 5's start (counts stay unweighted).
    const f = 2 ** -ERA_HALF_LIVES;
    expect(sut.stats.a).toEqual({ dimension: 2, count: 2, weight: 1 + f, rr: 1 + f, xr: [1 + f, f], xx: [1 + f, f, f], epoch: 5 * ERA_HALF_LIVES * 60 });
    expect(sut.stale.sort()).toEqual([...Object.keys(fields('a', `${fp}.2`, newer)), ...Object.keys(fields('a', '0badf00d.5', newer))].sort());
  });

  it('drops an era whose vector has the wrong length', () => {
    const sut = readRidgeHash(fields('b', `${fp}.0`, [1, 1, 1]), strategy({ halfLifeSeconds: 60 }));
    expect(sut.stats.b.count).toBe(0);
    expect(sut.stale).toHaveLength(3);
    expect(ridgeFromValues([1, 1, 1], 2, 0)).toBeUndefined();
  });
});

describe(fitContextualPolicy.name, () => {
  // The arms of contextual-bandit.spec.ts: a saw ([1,0] → 1) and ([1,1] → 0), b saw ([1,1] → 1);
  // λ = 1: θ̂a = [0.4, −0.2], θ̂b = [1/3, 1/3]; LinUCB (α = 1) serves a at [1,0] and b at [1,1].
  const stats = { a: addRidge(ridgeObservation([1, 0], 1), ridgeObservation([1, 1], 0)), b: ridgeObservation([1, 1], 1) };
  const policy = fitContextualPolicy(strategy(), ['a', 'b', 'c'], stats, 'binary', 0);
  const models = policyModels(JSON.parse(JSON.stringify(policy)))!;

  it('fits every arm, one with no statistics on its prior, and survives a round trip through JSON', () => {
    expect(models.fingerprint).toBe(contextFingerprint(strategy()));
    expect(Array.from(models.models[0].model.theta)).toEqual([expect.closeTo(0.4, 12), expect.closeTo(-0.2, 12)]);
    expect(Array.from(models.models[1].model.theta)).toEqual([expect.closeTo(1 / 3, 12), expect.closeTo(1 / 3, 12)]);
    expect(Array.from(models.models[2].model.theta)).toEqual([0, 0]);
    expect(policyModels({ ...policy, arms: [{ ...policy.arms[0], theta: [1] }] })).toBeUndefined();
  });

  it('draws per request by its context, floors applied, and logs the context whatever draws', () => {
    const two = policyModels(fitContextualPolicy(strategy(), ['a', 'b'], stats, 'binary', 0));
    const rng = seededRng(1);
    expect(contextualDraw(strategy(), { inputs: {}, context: { seg: 'y' } }, two, { rng })).toEqual({
      x: [1, 1],
      weights: { a: expect.closeTo(0.1, 12), b: 0.9 },
    });
    expect(contextualDraw(strategy(), { inputs: {}, context: { seg: 'z' } }, two, { rng })).toEqual({
      x: [1, 0],
      weights: { a: 0.9, b: expect.closeTo(0.1, 12) },
    });
    // A vetoed arm is held at the floor in every context.
    expect(contextualDraw(strategy(), { inputs: {}, context: { seg: 'z' } }, two, { rng, vetoed: ['a'] }).weights).toEqual({ a: 0.1, b: 0.9 });
    // No policy yet, or one fitted for other features: the context is logged, the stored weights draw.
    expect(contextualDraw(strategy(), { inputs: {}, context: { seg: 'y' } }, undefined, { rng })).toEqual({ x: [1, 1] });
    expect(contextualDraw(strategy({ halfLifeSeconds: 60 }), { inputs: {}, context: { seg: 'y' } }, two, { rng })).toEqual({ x: [1, 1] });
    expect(contextualDraw({ type: 'canary' }, { inputs: {}, context: { seg: 'y' } }, two, { rng })).toEqual({});
  });

  it('computes the shares of a context once per stored policy and vetoes, and again for a new policy', () => {
    const fitted = fitContextualPolicy({ ...strategy(), algorithm: 'linear-thompson' } as Contextual, ['a', 'b'], stats, 'binary', 0);
    const thompson = { ...strategy(), algorithm: 'linear-thompson' } as Contextual;
    const stored = policyModels(fitted);
    const draw = (policy: typeof stored, vetoed?: string[]) =>
      contextualDraw(thompson, { inputs: {}, context: { seg: 'y' } }, policy, { rng: seededRng(2), vetoed }).weights;
    const first = draw(stored);
    expect(draw(stored)).toBe(first);
    expect(draw(stored, ['b'])).not.toBe(first);
    expect(draw(policyModels(fitted))).not.toBe(first);
  });

  it('gives the shares of each categorical level as a segment', () => {
    const two = policyModels(fitContextualPolicy(strategy(), ['a', 'b'], stats, 'binary', 0))!;
    expect(segmentWeights(strategy(), two.models, { rng: seededRng(1) })).toEqual({ 'seg=y': { a: expect.closeTo(0.1, 12), b: 0.9 } });
  });
});

describe(contextFreeAlgorithm.name, () => {
  it("is a context-free bandit's own, and Thompson on the totals for a contextual one", () => {
    expect(contextFreeAlgorithm('ucb1')).toBe('ucb1');
    expect(contextFreeAlgorithm('linucb')).toBe('thompson');
  });
});
