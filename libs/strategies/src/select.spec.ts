import type { DeploymentSpec, StrategySpec } from '@switchyard/contracts';
import { assignCanary } from './canary';
import { seededRng } from './rng';
import { selectVariant } from './select';

function spec(strategy: Partial<StrategySpec>, variants = ['v1', 'v2', 'v3']): DeploymentSpec {
  return {
    name: 'churn',
    version: 1,
    updatedAt: '2025-01-01T00:00:00.000Z',
    variants: variants.map((name) => ({ name, url: 'http://127.0.0.1:9000', model: `churn-${name}`, protocol: 'v2', timeoutMs: 500, retries: 0 })),
    strategy: strategy as StrategySpec,
    reward: { type: 'match' },
  };
}

const UNITS = Array.from({ length: 20_000 }, (_, i) => `unit-${i}`);

describe(selectVariant.name, () => {
  it('single: the variant, always, with nothing to fall back to', () => {
    expect(selectVariant(spec({ type: 'single', variant: 'v2' }), { unitKey: 'u', rng: seededRng(1) })).toEqual({ variant: 'v2', probability: 1, shadows: [] });
  });

  it('shadow: the primary answers and the shadows are listed', () => {
    const sut = selectVariant(spec({ type: 'shadow', primary: 'v1', shadows: ['v2', 'v3'] }), { unitKey: 'u', rng: seededRng(1) });
    expect(sut).toEqual({ variant: 'v1', probability: 1, shadows: ['v2', 'v3'] });
  });

  describe('canary', () => {
    const canary = spec({ type: 'canary', primary: 'v1', canary: 'v2', percent: 20 });

    it('follows assignCanary on the deployment name and unit, with the primary as fallback', () => {
      for (const unitKey of UNITS.slice(0, 2000)) {
        const sut = selectVariant(canary, { unitKey, rng: seededRng(1) });
        if (assignCanary('churn', unitKey, 20) === 'canary') expect(sut).toEqual({ variant: 'v2', probability: 0.2, shadows: [], fallback: 'v1' });
        else expect(sut).toEqual({ variant: 'v1', probability: 0.8, shadows: [] });
      }
    });

    it('sends about the percent of units to the canary, whatever the rng says', () => {
      const chosen = UNITS.filter((unitKey) => selectVariant(canary, { unitKey, rng: () => 0 }).variant === 'v2').length;
      expect(Math.abs(chosen / UNITS.length - 0.2)).toBeLessThan(0.01);
    });

    it("mirrors a paired canary's requests to the primary, and none of the primary's own", () => {
      const paired = spec({ type: 'canary', primary: 'v1', canary: 'v2', percent: 20, pairWithPrimary: true });
      for (const unitKey of UNITS.slice(0, 50)) {
        const sut = selectVariant(paired, { unitKey, rng: seededRng(1) });
        expect(sut.shadows).toEqual(sut.variant === 'v2' ? ['v1'] : []);
      }
    });

    it('sends everybody to the primary at 0 %', () => {
      const sut = selectVariant(spec({ type: 'canary', primary: 'v1', canary: 'v2', percent: 0 }), { unitKey: 'u', rng: seededRng(1) });
      expect(sut).toEqual({ variant: 'v1', probability: 1, shadows: [] });
    });
  });

  describe('bandit', () => {
    const bandit = spec({ type: 'bandit', algorithm: 'thompson' });

    function frequencies(weights: Record<string, number> | undefined, draws = 20_000): Record<string, number> {
      const rng = seededRng(5);
      const counts: Record<string, number> = {};
      for (let i = 0; i < draws; i++) {
        const { variant } = selectVariant(bandit, { unitKey: `u${i}`, rng, weights });
        counts[variant] = (counts[variant] ?? 0) + 1;
      }
      return Object.fromEntries(Object.entries(counts).map(([name, count]) => [name, count / draws]));
    }

    it('samples from the weights, reports the probability and falls back to the best other arm', () => {
      const weights = { v1: 0.7, v2: 0.2, v3: 0.1 };
      const sut = selectVariant(bandit, { unitKey: 'u', rng: () => 0.95, weights });
      expect(sut).toEqual({ variant: 'v3', probability: expect.closeTo(0.1, 12), shadows: [], fallback: 'v1' });
      expect(selectVariant(bandit, { unitKey: 'u', rng: () => 0.1, weights }).fallback).toBe('v2');
      const observed = frequencies(weights);
      for (const [name, weight] of Object.entries(weights)) expect(Math.abs(observed[name] - weight)).toBeLessThan(0.015);
    });

    it('is uniform over the spec variants without weights, or with weights for other arms', () => {
      for (const weights of [undefined, { old1: 0.5, old2: 0.5 }]) {
        const observed = frequencies(weights);
        expect(Object.keys(observed).sort()).toEqual(['v1', 'v2', 'v3']);
        for (const share of Object.values(observed)) expect(Math.abs(share - 1 / 3)).toBeLessThan(0.015);
        expect(selectVariant(bandit, { unitKey: 'u', rng: () => 0, weights }).probability).toBeCloseTo(1 / 3, 12);
      }
    });

    it('ignores arms that left the spec and gives new arms a uniform share', () => {
      const weights = { v1: 0.6, v2: 0.4, gone: 0.5 };
      const observed = frequencies(weights);
      expect(observed.gone).toBeUndefined();
      // v3 is new: 1/3 before renormalising the total of 0.6 + 0.4 + 1/3.
      expect(Math.abs(observed.v3 - 0.25)).toBeLessThan(0.015);
      expect(Math.abs(observed.v1 - 0.45)).toBeLessThan(0.015);
    });
  });

  it('rejects an unknown strategy type', () => {
    expect(() => selectVariant(spec({ type: 'random' as StrategySpec['type'] }), { unitKey: 'u', rng: seededRng(1) })).toThrow(/unknown strategy type/);
  });
});
