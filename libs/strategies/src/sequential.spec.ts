import { addReward, ArmStats, emptyStats } from './arm-stats';
import { seededRng } from './rng';
import { differenceConfidenceSequence, flooredVariance, mixtureHalfWidth } from './sequential';

const bernoulli = (count: number, successes: number): ArmStats => ({ count, sum: successes, sumSq: successes });

describe(mixtureHalfWidth.name, () => {
  it('is about 3.04 standard errors at its best mixing variance (τ² ≈ 8V, alpha 0.05)', () => {
    expect(mixtureHalfWidth(1, 8, 0.05)).toBeCloseTo(3.035, 3);
  });

  it('is wider than the fixed-horizon 1.96 standard errors for any τ²', () => {
    for (const tau2 of [0.01, 0.1, 1, 10, 100, 1e4]) expect(mixtureHalfWidth(1, tau2, 0.05)).toBeGreaterThan(1.96);
  });
});

describe(flooredVariance.name, () => {
  it('is the sample variance when rewards vary, the rule-of-three Bernoulli variance when they do not', () => {
    expect(flooredVariance(bernoulli(1000, 800))).toBeCloseTo(160 / 999, 12);
    expect(flooredVariance(bernoulli(300, 300))).toBeCloseTo(0.01 * 0.99, 12);
    expect(flooredVariance(bernoulli(4, 0))).toBeCloseTo(0.25, 12);
    expect(flooredVariance(bernoulli(1, 1))).toBeNaN();
  });
});

describe(differenceConfidenceSequence.name, () => {
  it('matches the closed form computed independently (0.8 vs 0.7 over 1000 each)', () => {
    // Python: V = (160/999 + 210/999)/1000; τ² = 0.01;
    // h = sqrt(2V(V+τ²)/τ² · ln(sqrt((V+τ²)/V)/0.05)) = 0.05984235504092416
    const bounds = differenceConfidenceSequence(bernoulli(1000, 800), bernoulli(1000, 700), 0.05, { tau2: 0.01 })!;
    expect(bounds.delta).toBeCloseTo(0.1, 12);
    expect(bounds.low).toBeCloseTo(0.040157644959075846, 12);
    expect(bounds.high).toBeCloseTo(0.15984235504092417, 12);
    // Default τ² = (0.075σ)², σ² pooled: half-width 0.060662646117725365.
    expect(differenceConfidenceSequence(bernoulli(1000, 800), bernoulli(1000, 700), 0.05)!.high).toBeCloseTo(0.1 + 0.060662646117725365, 12);
  });

  it('is undefined while either arm has fewer than two observations', () => {
    expect(differenceConfidenceSequence(bernoulli(1, 1), bernoulli(100, 50), 0.05)).toBeUndefined();
    expect(differenceConfidenceSequence(bernoulli(100, 50), emptyStats(), 0.05)).toBeUndefined();
  });

  it('narrows as the counts grow, and with a larger alpha', () => {
    const width = (n: number, alpha = 0.05) => {
      const b = differenceConfidenceSequence(bernoulli(n, 0.8 * n), bernoulli(9 * n, 7.2 * n), alpha)!;
      return b.high - b.low;
    };
    expect(width(2000)).toBeLessThan(width(200));
    expect(width(20000)).toBeLessThan(width(2000));
    expect(width(2000, 0.2)).toBeLessThan(width(2000, 0.05));
  });

  it('is scale-free by default: rewards ×10 give bounds ×10', () => {
    const scaled = (s: ArmStats, k: number): ArmStats => ({ count: s.count, sum: k * s.sum, sumSq: k * k * s.sumSq });
    const [a, b] = [bernoulli(500, 400), bernoulli(4500, 3300)];
    const one = differenceConfidenceSequence(a, b, 0.05)!;
    const ten = differenceConfidenceSequence(scaled(a, 10), scaled(b, 10), 0.05)!;
    expect(ten.low).toBeCloseTo(10 * one.low, 10);
    expect(ten.high).toBeCloseTo(10 * one.high, 10);
  });

  it('keeps a width when every reward is equal, instead of deciding on a point', () => {
    const bounds = differenceConfidenceSequence(bernoulli(200, 200), bernoulli(1800, 1800), 0.05)!;
    expect(bounds.delta).toBe(0);
    expect(bounds.low).toBeLessThan(-0.01);
    expect(bounds.high).toBeGreaterThan(0.01);
  });

  it('covers the true difference at every look at once in ≥ 1 − alpha of runs; 1.96·se peeked at does not', () => {
    // 200 runs of two Bernoulli(0.5) arms, looked at every 20 rewards per arm up to 2000.
    const rng = seededRng(7);
    let everMissed = 0;
    let naiveEverMissed = 0;
    for (let run = 0; run < 200; run++) {
      let [a, b] = [emptyStats(), emptyStats()];
      let [missed, naiveMissed] = [false, false];
      for (let look = 1; look <= 100; look++) {
        for (let i = 0; i < 20; i++) {
          a = addReward(a, rng() < 0.5 ? 1 : 0);
          b = addReward(b, rng() < 0.5 ? 1 : 0);
        }
        const bounds = differenceConfidenceSequence(a, b, 0.05)!;
        missed ||= bounds.low > 0 || bounds.high < 0;
        const se = Math.sqrt(((a.sum / a.count) * (1 - a.sum / a.count)) / a.count + ((b.sum / b.count) * (1 - b.sum / b.count)) / b.count);
        naiveMissed ||= Math.abs(bounds.delta) > 1.96 * se;
      }
      everMissed += +missed;
      naiveEverMissed += +naiveMissed;
    }
    // Binomial(200, 0.05) exceeds 18 with probability < 1 %; here the always-valid one misses 3 times, the naive one 74.
    expect(everMissed).toBeLessThanOrEqual(18);
    expect(naiveEverMissed).toBeGreaterThan(18);
  });
});
