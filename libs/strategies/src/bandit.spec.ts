import type { BanditAlgorithm } from '@switchyard/contracts';
import { ArmStats, addReward, emptyStats } from './arm-stats';
import { banditWeights, BanditOptions } from './bandit';
import { BanditArm } from './bandit-arm';
import { epsilonGreedyWeights } from './epsilon-greedy';
import { Rng, sampleNormal, seededRng } from './rng';
import { thompsonWeights } from './thompson';
import { ucb1Weights } from './ucb1';

/** Statistics of `count` binary rewards with the given success rate. */
function binary(count: number, rate: number): ArmStats {
  const sum = Math.round(count * rate);
  return { count, sum, sumSq: sum };
}

/** Statistics of `count` normal rewards, drawn from a seeded rng. */
function normal(count: number, mean: number, sd: number, rng: Rng): ArmStats {
  let stats = emptyStats();
  for (let i = 0; i < count; i++) stats = addReward(stats, sampleNormal(rng, mean, sd));
  return stats;
}

// Listed here, not imported from the contracts' runtime module, which pulls in class-validator.
const ALGORITHMS: readonly BanditAlgorithm[] = ['thompson', 'ucb1', 'epsilon-greedy'];
/** Statistics with exactly this mean and sample standard deviation. */
function exact(count: number, mean: number, sd: number): ArmStats {
  return { count, sum: count * mean, sumSq: (count - 1) * sd * sd + count * mean * mean };
}

const sum = (weights: Record<string, number>) => Object.values(weights).reduce((a, b) => a + b, 0);
function expectWeights(actual: Record<string, number>, expected: Record<string, number>): void {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const [name, weight] of Object.entries(expected)) expect(actual[name]).toBeCloseTo(weight, 12);
}
const options = (overrides: Partial<BanditOptions> = {}): BanditOptions => ({ rng: seededRng(1), rewardKind: 'binary', ...overrides });

describe(banditWeights.name, () => {
  const armSets: Record<string, BanditArm[]> = {
    clear: [
      { name: 'a', stats: binary(1000, 0.9) },
      { name: 'b', stats: binary(1000, 0.7) },
      { name: 'c', stats: binary(1000, 0.1) },
    ],
    untried: [{ name: 'a', stats: binary(500, 0.5) }, { name: 'b' }, { name: 'c', stats: emptyStats() }],
    empty: [{ name: 'a' }, { name: 'b' }],
    many: Array.from({ length: 8 }, (_, i) => ({ name: `v${i}`, stats: binary(200 + 100 * i, 0.1 * i) })),
  };

  describe.each(ALGORITHMS)('%s', (algorithm: BanditAlgorithm) => {
    it.each(Object.keys(armSets).flatMap((set) => [0.01, 0.05, 0.1].map((minShare) => [set, minShare] as const)))(
      'keeps every arm at or above the floor and sums to 1 (%s arms, minShare %p)',
      (set, minShare) => {
        const sut = banditWeights(algorithm, armSets[set], options({ minShare }));
        expect(Object.keys(sut).sort()).toEqual(armSets[set].map((arm) => arm.name).sort());
        for (const weight of Object.values(sut)) expect(weight).toBeGreaterThanOrEqual(minShare - 1e-12);
        expect(Math.abs(sum(sut) - 1)).toBeLessThan(1e-9);
      },
    );

    it('applies the 0.01 floor when minShare is left out', () => {
      // epsilon 0, so epsilon-greedy starves the worse arms too, and only the floor feeds them.
      const sut = banditWeights(algorithm, armSets.clear, options({ epsilon: 0 }));
      expect(Math.min(...Object.values(sut))).toBeGreaterThanOrEqual(0.01 - 1e-12);
      expect(Math.min(...Object.values(sut))).toBeLessThan(0.02);
    });

    it('gives the same weights for the same seed', () => {
      const arms = armSets.many;
      expect(banditWeights(algorithm, arms, options({ rng: seededRng(99) }))).toEqual(banditWeights(algorithm, arms, options({ rng: seededRng(99) })));
    });

    it('favours the clearly better arm', () => {
      const sut = banditWeights(algorithm, armSets.clear, options());
      expect(sut.a).toBeGreaterThan(sut.b);
      expect(sut.a).toBeGreaterThan(sut.c);
    });

    it('holds a vetoed arm at the floor however good its rewards', () => {
      const sut = banditWeights(algorithm, armSets.clear, options({ minShare: 0.05, vetoed: ['a'] }));
      expect(sut.a).toBeCloseTo(0.05, 12);
      expect(Math.abs(sum(sut) - 1)).toBeLessThan(1e-9);
      expect(sut.b).toBeGreaterThan(0.05);
    });
  });

  it('is empty without arms', () => {
    expect(banditWeights('thompson', [], options())).toEqual({});
  });

  it('rejects an unknown algorithm', () => {
    expect(() => banditWeights('greedy' as BanditAlgorithm, armSets.clear, options())).toThrow(/unknown bandit algorithm/);
  });
});

describe(thompsonWeights.name, () => {
  it('puts more than 0.9 on the clearly better binary arm (1000 trials each, 0.9 vs 0.7)', () => {
    const sut = banditWeights(
      'thompson',
      [
        { name: 'a', stats: binary(1000, 0.9) },
        { name: 'b', stats: binary(1000, 0.7) },
      ],
      options(),
    );
    expect(sut.a).toBeGreaterThan(0.9);
  });

  it('splits evenly between arms with no data', () => {
    const sut = thompsonWeights([{ name: 'a' }, { name: 'b' }, { name: 'c' }], seededRng(3), 'binary', 3000);
    for (const weight of Object.values(sut)) expect(Math.abs(weight - 1 / 3)).toBeLessThan(0.04);
  });

  it('estimates the probability of being best: close arms share, by how close they are', () => {
    // Beta(61, 41) vs Beta(56, 46): P(a > b) is about 0.76.
    const sut = thompsonWeights(
      [
        { name: 'a', stats: binary(100, 0.6) },
        { name: 'b', stats: binary(100, 0.55) },
      ],
      seededRng(4),
      'binary',
      4000,
    );
    expect(sut.a).toBeGreaterThan(0.68);
    expect(sut.a).toBeLessThan(0.84);
  });

  it('keeps exploring an untried arm against a mediocre one', () => {
    const sut = thompsonWeights([{ name: 'a', stats: binary(50, 0.5) }, { name: 'b' }], seededRng(5), 'binary');
    expect(sut.b).toBeGreaterThan(0.3);
  });

  it('puts more than 0.9 on the clearly better continuous arm', () => {
    const rng = seededRng(6);
    const arms = [
      { name: 'a', stats: normal(300, -1, 2, rng) },
      { name: 'b', stats: normal(300, -3, 2, rng) },
    ];
    const sut = thompsonWeights(arms, seededRng(7), 'continuous');
    expect(sut.a).toBeGreaterThan(0.9);
  });

  it('uses the pooled rewards as the prior for a continuous arm with no data', () => {
    const rng = seededRng(8);
    // On the scale of absolute errors in the hundreds, an untried arm is still a contender.
    const sut = thompsonWeights([{ name: 'a', stats: normal(200, -400, 100, rng) }, { name: 'b' }], seededRng(9), 'continuous');
    expect(sut.b).toBeGreaterThan(0.2);
    expect(sut.b).toBeLessThan(0.8);
  });

  it('shares ties instead of crediting the first arm', () => {
    // A constant rng makes identical posteriors draw identical values: a tie on every sample.
    const sut = thompsonWeights(
      [
        { name: 'a', stats: exact(10, 1, 1) },
        { name: 'b', stats: exact(10, 1, 1) },
      ],
      () => 0.5,
      'continuous',
      10,
    );
    expect(sut).toEqual({ a: 0.5, b: 0.5 });
  });
});

describe(ucb1Weights.name, () => {
  it('plays untried arms first, sharing the traffic between them', () => {
    const sut = ucb1Weights([{ name: 'a', stats: binary(1000, 0.9) }, { name: 'b' }, { name: 'c', stats: emptyStats() }], 'binary');
    expect(sut).toEqual({ a: 0, b: 0.5, c: 0.5 });
  });

  it('picks the arm with the higher mean when the evidence is clear', () => {
    const sut = ucb1Weights(
      [
        { name: 'a', stats: binary(1000, 0.7) },
        { name: 'b', stats: binary(1000, 0.9) },
      ],
      'binary',
    );
    expect(sut).toEqual({ a: 0, b: 1 });
  });

  it('picks a rarely tried arm whose bonus outweighs a slightly lower mean', () => {
    // mean 0.5 + sqrt(2 ln 1002 / 2) ≈ 3.1 beats 0.6 + sqrt(2 ln 1002 / 1000) ≈ 0.72.
    const sut = ucb1Weights(
      [
        { name: 'a', stats: binary(1000, 0.6) },
        { name: 'b', stats: binary(2, 0.5) },
      ],
      'binary',
    );
    expect(sut).toEqual({ a: 0, b: 1 });
  });

  it('scales the bonus to continuous rewards, so large errors do not make it greedy', () => {
    // -420 after 5 rewards is well within noise of -400 at sd 100 (standard error 45); an
    // unscaled bonus (+1.7) could never close a gap of 20, the scaled one (+170) does.
    const sut = ucb1Weights(
      [
        { name: 'a', stats: exact(2000, -400, 100) },
        { name: 'b', stats: exact(5, -420, 100) },
      ],
      'continuous',
    );
    expect(sut).toEqual({ a: 0, b: 1 });
  });

  it('is deterministic and splits exact ties', () => {
    const arms = [
      { name: 'a', stats: binary(100, 0.5) },
      { name: 'b', stats: binary(100, 0.5) },
    ];
    expect(ucb1Weights(arms, 'binary')).toEqual({ a: 0.5, b: 0.5 });
  });
});

describe(epsilonGreedyWeights.name, () => {
  it('gives 1 - epsilon to the best mean and spreads epsilon uniformly', () => {
    const sut = epsilonGreedyWeights(
      [
        { name: 'a', stats: binary(100, 0.3) },
        { name: 'b', stats: binary(100, 0.6) },
        { name: 'c', stats: binary(100, 0.5) },
      ],
      0.3,
    );
    expect(sut.b).toBeCloseTo(0.7 + 0.1, 12);
    expect(sut.a).toBeCloseTo(0.1, 12);
    expect(sut.c).toBeCloseTo(0.1, 12);
  });

  it('uses epsilon 0.1 by default, also through banditWeights', () => {
    const arms = [
      { name: 'a', stats: binary(100, 0.3) },
      { name: 'b', stats: binary(100, 0.6) },
    ];
    expectWeights(epsilonGreedyWeights(arms), { a: 0.05, b: 0.95 });
    expectWeights(banditWeights('epsilon-greedy', arms, options({ minShare: 0 })), { a: 0.05, b: 0.95 });
    expectWeights(banditWeights('epsilon-greedy', arms, options({ minShare: 0, epsilon: 0.5 })), { a: 0.25, b: 0.75 });
  });

  it('splits the greedy share between tied arms', () => {
    const sut = epsilonGreedyWeights(
      [
        { name: 'a', stats: binary(10, 0.5) },
        { name: 'b', stats: binary(20, 0.5) },
        { name: 'c', stats: binary(10, 0.1) },
      ],
      0.3,
    );
    expect(sut.a).toBeCloseTo(0.45, 12);
    expect(sut.b).toBeCloseTo(0.45, 12);
    expect(sut.c).toBeCloseTo(0.1, 12);
  });

  it('lets untried arms only explore, and is uniform with no data at all', () => {
    expect(epsilonGreedyWeights([{ name: 'a', stats: binary(10, 0.1) }, { name: 'b' }], 0.2)).toEqual({ a: 0.9, b: 0.1 });
    expect(epsilonGreedyWeights([{ name: 'a' }, { name: 'b' }], 0.2)).toEqual({ a: 0.5, b: 0.5 });
  });
});
