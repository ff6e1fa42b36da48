import type { DeploymentSpec, StrategySpec } from '@switchyard/contracts';
import { assignCanary } from './canary';
import { configuredShares, servingSpec, stepStrategy } from './plan';
import { selectVariant } from './select';

const plan: StrategySpec = {
  type: 'plan',
  primary: 'v1',
  candidate: 'v2',
  steps: [
    { pause: { seconds: 5 } },
    { shadow: { minSamples: 500 } },
    { canary: 5 },
    { pause: {} },
    { canary: 25 },
    { bandit: { algorithm: 'thompson', minSamples: 2000 } },
    { promote: true },
  ],
};

function spec(step: number): DeploymentSpec {
  return {
    name: 'churn',
    version: 3,
    updatedAt: '2026-01-01T00:00:00.000Z',
    variants: ['v1', 'v2', 'v0'].map((name) => ({ name, url: 'http://127.0.0.1:9000', model: name, protocol: 'v2' as const, timeoutMs: 1000, retries: 0 })),
    strategy: plan,
    reward: { type: 'match' },
    status: { step },
  };
}

describe(stepStrategy.name, () => {
  it('serves each step as the strategy it names', () => {
    expect(stepStrategy(plan, 1)).toEqual({ type: 'shadow', primary: 'v1', shadows: ['v2'] });
    expect(stepStrategy(plan, 2)).toEqual({ type: 'canary', primary: 'v1', canary: 'v2', percent: 5 });
    expect(stepStrategy(plan, 5)).toEqual({ type: 'bandit', algorithm: 'thompson', minShare: 0.05 });
    expect(stepStrategy(plan, 6)).toEqual({ type: 'single', variant: 'v2' });
  });

  it("pairs a plan's canary steps with the primary when the plan asks", () => {
    const paired = { ...plan, pairWithPrimary: true };
    expect(stepStrategy(paired, 2)).toEqual({ type: 'canary', primary: 'v1', canary: 'v2', percent: 5, pairWithPrimary: true });
    expect(stepStrategy(paired, 1)).toEqual(stepStrategy(plan, 1));
  });

  it('holds the traffic of the step before a pause, the primary alone before any', () => {
    expect(stepStrategy(plan, 0)).toEqual({ type: 'single', variant: 'v1' });
    expect(stepStrategy(plan, 3)).toEqual(stepStrategy(plan, 2));
  });
});

describe(servingSpec.name, () => {
  it('keeps other strategies as they are, and serves a plan over its primary and candidate only', () => {
    const canary = { ...spec(0), strategy: { type: 'canary' as const, primary: 'v1', canary: 'v2', percent: 10 } };
    expect(servingSpec(canary)).toBe(canary);
    const sut = servingSpec(spec(5));
    expect(sut.variants.map((v) => v.name)).toEqual(['v1', 'v2']);
    expect(sut).toMatchObject({ name: 'churn', version: 3, strategy: { type: 'bandit' } });
  });

  it('keeps canary units sticky and monotone from step to step', () => {
    const units = Array.from({ length: 2000 }, (_, i) => `user-${i}`);
    const at = (step: number) => new Set(units.filter((unit) => selectVariant(spec(step), { unitKey: unit, rng: Math.random }).variant === 'v2'));
    const [five, twentyFive] = [at(2), at(4)];
    expect(five.size).toBeGreaterThan(50);
    expect(twentyFive.size).toBeGreaterThan(400);
    for (const unit of five) expect(twentyFive.has(unit)).toBe(true);
    for (const unit of five) expect(assignCanary('churn', unit, 5)).toBe('canary');
  });
});

describe(configuredShares.name, () => {
  it('gives each variant its set share: the canary at its bucket resolution, the primary alone under a shadow', () => {
    expect(configuredShares({ type: 'single', variant: 'v2' })).toEqual({ v2: 1 });
    expect(configuredShares({ type: 'shadow', primary: 'v1', shadows: ['v2'] })).toEqual({ v1: 1 });
    expect(configuredShares({ type: 'canary', primary: 'v1', canary: 'v2', percent: 12.345 })).toEqual({ v1: 1 - 0.1235, v2: 0.1235 });
  });

  it('follows a plan to its current step, and has none for a bandit', () => {
    expect(configuredShares(plan, { step: 0 })).toEqual({ v1: 1 });
    expect(configuredShares(plan, { step: 3 })).toEqual({ v1: 0.95, v2: 0.05 });
    expect(configuredShares(plan, { step: 6 })).toEqual({ v2: 1 });
    expect(configuredShares(plan, { step: 5 })).toBeUndefined();
    expect(configuredShares({ type: 'bandit', algorithm: 'thompson' })).toBeUndefined();
  });
});
