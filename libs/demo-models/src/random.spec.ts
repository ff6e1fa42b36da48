import { randomFeatures, seededRng, stableUnitHash } from './random';

describe(seededRng.name, () => {
  it('replays the same sequence for the same seed, a different one for another seed', () => {
    const a = seededRng(42);
    const b = seededRng(42);
    const c = seededRng(43);
    const first = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(first);
    expect(Array.from({ length: 5 }, () => c())).not.toEqual(first);
  });

  it('draws uniform numbers in [0, 1)', () => {
    const sut = seededRng(1);
    const draws = Array.from({ length: 50_000 }, () => sut());
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(1);
    expect(draws.reduce((sum, x) => sum + x, 0) / draws.length).toBeCloseTo(0.5, 2);
  });
});

describe(randomFeatures.name, () => {
  it('makes 4 features in [0, 1] with at most 4 decimals', () => {
    const rng = seededRng(3);
    for (let i = 0; i < 1000; i++) {
      const sut = randomFeatures(rng);
      expect(sut).toHaveLength(4);
      for (const x of sut) {
        expect(x).toBeGreaterThanOrEqual(0);
        expect(x).toBeLessThanOrEqual(1);
        expect(Math.round(x * 10_000) / 10_000).toBe(x);
      }
    }
  });
});

describe(stableUnitHash.name, () => {
  it('is pinned, so which inputs a model gets wrong never changes between releases', () => {
    expect(stableUnitHash('churn-v1', [0.1, 0.2, 0.3, 0.4])).toBe(0.04841631301678717);
  });

  it('depends on the seed and on every feature', () => {
    const base = stableUnitHash('churn-v1', [0.1, 0.2, 0.3, 0.4]);
    expect(stableUnitHash('churn-v2', [0.1, 0.2, 0.3, 0.4])).not.toBe(base);
    expect(stableUnitHash('churn-v1', [0.1, 0.2, 0.3, 0.4001])).not.toBe(base);
  });

  it('spreads evenly over [0, 1)', () => {
    const rng = seededRng(9);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 20_000; i++) buckets[Math.floor(stableUnitHash('x', randomFeatures(rng)) * 10)]++;
    for (const count of buckets) expect(Math.abs(count - 2000)).toBeLessThan(200);
  });
});
