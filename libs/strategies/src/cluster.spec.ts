import { addReward, emptyStats } from './arm-stats';
import { addToUnitSums, clusteredMeanVariance, emptyUnitSums, mergeUnitSums, type UnitSums } from './cluster';

/** The aggregates of `units`, built one reward at a time as a store would. */
function sumsOf(units: number[][]): UnitSums {
  let sums = emptyUnitSums();
  for (const unit of units) {
    let before = { count: 0, sum: 0 };
    for (const reward of unit) {
      sums = addToUnitSums(sums, before, reward);
      before = { count: before.count + 1, sum: before.sum + reward };
    }
  }
  return sums;
}

describe(addToUnitSums.name, () => {
  it('keeps K, Σn², ΣS² and ΣnS exactly as computed from the units at the end', () => {
    // Units {1,0,1}, {1}, {0,0}, {1,1,1,1}: n = 3,1,2,4; S = 2,1,0,4.
    expect(sumsOf([[1, 0, 1], [1], [0, 0], [1, 1, 1, 1]])).toEqual({ units: 4, countSq: 9 + 1 + 4 + 16, sumSq: 4 + 1 + 0 + 16, countSum: 6 + 1 + 0 + 16 });
  });
});

describe(mergeUnitSums.name, () => {
  it('adds the aggregates of disjoint sets of units', () => {
    expect(
      mergeUnitSums(
        sumsOf([[1, 0, 1], [1]]),
        sumsOf([
          [0, 0],
          [1, 1, 1, 1],
        ]),
      ),
    ).toEqual(sumsOf([[1, 0, 1], [1], [0, 0], [1, 1, 1, 1]]));
  });
});

describe(clusteredMeanVariance.name, () => {
  const units = [[1, 0, 1], [1], [0, 0], [1, 1, 1, 1]];
  const stats = units.flat().reduce(addReward, emptyStats());

  it('is K/(K−1) Σ (S_u − μ n_u)² / N² (hand-computed: 4/3 · 0.35 / 100 at μ = 0.7)', () => {
    // μ = 7/10: (2 − 2.1)² + (1 − 0.7)² + (0 − 1.4)² + (4 − 2.8)² = 0.01 + 0.09 + 1.96 + 1.44 = 3.5.
    expect(clusteredMeanVariance(stats, sumsOf(units))).toBeCloseTo((4 / 3) * (3.5 / 100), 12);
  });

  it('is the independent variance of the mean when every unit has one reward', () => {
    const values = [0.2, 0.5, 0.9, 0.4];
    const independent = values.reduce(addReward, emptyStats());
    const m = 0.5;
    const expected = values.reduce((s, r) => s + (r - m) ** 2, 0) / (4 * 3);
    expect(clusteredMeanVariance(independent, sumsOf(values.map((r) => [r])))).toBeCloseTo(expected, 12);
  });

  it('is larger than the independent variance when units differ', () => {
    const correlated = [
      [1, 1, 1, 1],
      [0, 0, 0, 0],
      [1, 1, 1, 1],
      [0, 0, 0, 0],
    ];
    const s = correlated.flat().reduce(addReward, emptyStats());
    expect(clusteredMeanVariance(s, sumsOf(correlated))).toBeGreaterThan(0.25 / 16);
  });

  it('is NaN below two units', () => {
    expect(clusteredMeanVariance({ count: 3, sum: 2, sumSq: 2 }, sumsOf([[1, 0, 1]]))).toBeNaN();
  });
});
