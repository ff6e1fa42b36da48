import { addReward, emptyStats, mean, meanConfidenceInterval, mergeStats, variance } from './arm-stats';

const REWARDS = [0.5, 1.5, 2, 4, -1, 3.25];
const statsOf = (rewards: number[]) => rewards.reduce(addReward, emptyStats());

describe(addReward.name, () => {
  it('accumulates count, sum and sum of squares without mutating its input', () => {
    const empty = emptyStats();
    const one = addReward(empty, 3);
    expect(empty).toEqual({ count: 0, sum: 0, sumSq: 0 });
    expect(addReward(one, -2)).toEqual({ count: 2, sum: 1, sumSq: 13 });
  });
});

describe(mergeStats.name, () => {
  it('equals the statistics of all rewards together', () => {
    expect(mergeStats(statsOf(REWARDS.slice(0, 2)), statsOf(REWARDS.slice(2)))).toEqual(statsOf(REWARDS));
  });
});

describe(mean.name, () => {
  it('is the average reward', () => {
    expect(mean(statsOf(REWARDS))).toBeCloseTo(REWARDS.reduce((a, b) => a + b) / REWARDS.length, 12);
  });

  it('is NaN with no reward', () => {
    expect(mean(emptyStats())).toBeNaN();
  });
});

describe(variance.name, () => {
  it('is the sample variance (n - 1)', () => {
    const m = REWARDS.reduce((a, b) => a + b) / REWARDS.length;
    const expected = REWARDS.reduce((sum, x) => sum + (x - m) ** 2, 0) / (REWARDS.length - 1);
    expect(variance(statsOf(REWARDS))).toBeCloseTo(expected, 12);
  });

  it('is NaN below two rewards and never negative for constant rewards', () => {
    expect(variance(statsOf([1]))).toBeNaN();
    expect(variance(statsOf(Array(1000).fill(0.1)))).toBeGreaterThanOrEqual(0);
    expect(variance(statsOf(Array(1000).fill(0.1)))).toBeLessThan(1e-12);
  });
});

describe(meanConfidenceInterval.name, () => {
  it('is mean ± z·s/√n', () => {
    const stats = statsOf(REWARDS);
    const half = 1.96 * Math.sqrt(variance(stats) / REWARDS.length);
    const interval = meanConfidenceInterval(stats)!;
    expect(interval.mean).toBeCloseTo(mean(stats), 12);
    expect(interval.low).toBeCloseTo(mean(stats) - half, 12);
    expect(interval.high).toBeCloseTo(mean(stats) + half, 12);
    expect(meanConfidenceInterval(stats, 1)!.high - mean(stats)).toBeCloseTo(half / 1.96, 12);
  });

  it('narrows as rewards accumulate', () => {
    const width = (n: number) => {
      const interval = meanConfidenceInterval(statsOf(Array.from({ length: n }, (_, i) => i % 2)))!;
      return interval.high - interval.low;
    };
    expect(width(400)).toBeCloseTo(width(100) / 2, 2);
  });

  it('is undefined below two rewards', () => {
    expect(meanConfidenceInterval(emptyStats())).toBeUndefined();
    expect(meanConfidenceInterval(statsOf([1]))).toBeUndefined();
  });
});
