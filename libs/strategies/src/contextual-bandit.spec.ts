import { seededRng } from './rng';
import { chooseArm } from './weights';
import { ArmModel, ContextualArm, contextualWeights, fitArmModels, inverseGapWeights, squareCbGamma } from './contextual-bandit';
import { addRidge, emptyRidgeStats, ridgeObservation, RidgeStats } from './ridge';

// Two arms on x = [1, segment], λ = 1, 0/1 rewards (prior noise σ₀ = 0.5, worth one degree of freedom).
// a saw ([1,0] → 1) and ([1,1] → 0): θ̂ = [0.4, −0.2], RSS 0.4, Σw − d = 0, so
//   σ̂² = (0.4 + 0.25)/1 = 0.65; A⁻¹ = (1/5)[[2,−1],[−1,3]].
// b saw ([1,1] → 1): A = [[2,1],[1,2]], A⁻¹ = (1/3)[[2,−1],[−1,2]], θ̂ = [1/3, 1/3],
//   RSS = 1 − 2/3 − 2/9 = 1/9, σ̂² = 1/9 + 1/4 = 13/36.
// At x = [1,0]: a ~ N(0.4, 0.65·0.4 = 0.26), b ~ N(1/3, 13/36·2/3 = 13/54).
//   LinUCB (α = 1): a 0.4 + √0.26 = 0.910 > b 1/3 + √(13/54) = 0.824.
//   Thompson: P(a) = Φ((0.4 − 1/3)/√(0.26 + 13/54)) = Φ(0.0942) = 0.5375.
// At x = [1,1]: a ~ N(0.2, 0.65·0.6 = 0.39), b ~ N(2/3, 13/54).
//   LinUCB: a 0.2 + √0.39 = 0.825 < b 2/3 + √(13/54) = 1.157.
//   Thompson: P(a) = Φ((0.2 − 2/3)/√(0.39 + 13/54)) = Φ(−0.5876) = 0.2784.
// SquareCB (K = 2): the default γ is 10·√(Σw = 3) = 17.3205.
//   At [1,0], a best by 0.4 − 1/3 = 1/15: b gets 1/(2 + 17.3205/15) = 1/3.15470 = 0.316987, a the rest 0.683013;
//     with γ = 6, b gets 1/(2 + 6/15) = 5/12, a 7/12.
//   At [1,1], b best by 2/3 − 0.2 = 7/15: a gets 1/(2 + 17.3205·7/15) = 1/10.08290 = 0.099178.
const arms: ContextualArm[] = [
  { name: 'a', stats: addRidge(ridgeObservation([1, 0], 1), ridgeObservation([1, 1], 0)) },
  { name: 'b', stats: ridgeObservation([1, 1], 1) },
];
const models = fitArmModels(arms, { rewardKind: 'binary', dimension: 2 });

describe(fitArmModels.name, () => {
  it('scales the exploration by the residual noise, with the prior noise as one degree of freedom', () => {
    expect(models.map((m) => m.noiseSd ** 2)).toEqual([expect.closeTo(0.65, 12), expect.closeTo(13 / 36, 12)]);
    const fresh = fitArmModels([{ name: 'c' }], { rewardKind: 'continuous', dimension: 2 });
    expect(fresh[0].noiseSd).toBe(1);
  });
});

describe(contextualWeights.name, () => {
  const rng = () => seededRng(7);

  it('LinUCB: all but the floor to the arm of the highest upper bound in each context', () => {
    expect(contextualWeights('linucb', models, [1, 0], { rng: rng(), minShare: 0.1 })).toEqual({ a: 0.9, b: expect.closeTo(0.1, 12) });
    expect(contextualWeights('linucb', models, [1, 1], { rng: rng(), minShare: 0.1 })).toEqual({ a: expect.closeTo(0.1, 12), b: 0.9 });
  });

  it("linear Thompson: each arm's probability of drawing the best score, to Monte Carlo precision", () => {
    const at = (x: number[]) => contextualWeights('linear-thompson', models, x, { rng: rng(), samples: 20000, minShare: 0 });
    expect(at([1, 0]).a).toBeCloseTo(0.5375, 2);
    expect(at([1, 1]).a).toBeCloseTo(0.2784, 2);
    expect(at([1, 1])).toEqual(at([1, 1])); // the same seed, the same weights
  });

  it('SquareCB: 1/(K + γ·gap) to every arm but the best, the rest to the best', () => {
    expect(squareCbGamma(models)).toBeCloseTo(17.3205, 4);
    expect(contextualWeights('squarecb', models, [1, 0], { rng: rng(), minShare: 0 })).toEqual({
      a: expect.closeTo(0.683013, 6),
      b: expect.closeTo(0.316987, 6),
    });
    expect(contextualWeights('squarecb', models, [1, 0], { rng: rng(), minShare: 0, gamma: 6 })).toEqual({
      a: expect.closeTo(7 / 12, 12),
      b: expect.closeTo(5 / 12, 12),
    });
    expect(contextualWeights('squarecb', models, [1, 1], { rng: rng(), minShare: 0.05 }).a).toBeCloseTo(0.099178, 6);
    // Below the floor: raised to it, as for every bandit.
    expect(contextualWeights('squarecb', models, [1, 1], { rng: rng(), minShare: 0.12 })).toEqual({ a: 0.12, b: expect.closeTo(0.88, 12) });
    // Before any reward γ is 0: uniform.
    const fresh = fitArmModels([{ name: 'a' }, { name: 'b' }, { name: 'c' }], { rewardKind: 'binary', dimension: 2 });
    expect(contextualWeights('squarecb', fresh, [1, 0], { rng: rng(), minShare: 0 })).toEqual({ a: 1 / 3, b: 1 / 3, c: 1 / 3 });
  });

  it('inverse gap weighting splits what the tied best arms get', () => {
    // Scores 1, 1, 0.5, γ = 4, K = 3: the third gets 1/(3 + 2) = 0.2, each best 1/3 + (1 − 2/3 − 0.2)/2 = 0.4.
    const shares = inverseGapWeights([1, 1, 0.5], 4);
    expect(shares).toEqual([expect.closeTo(0.4, 12), expect.closeTo(0.4, 12), expect.closeTo(0.2, 12)]);
  });

  it('keeps the floor and the vetoes in every context', () => {
    for (const x of [
      [1, 0],
      [1, 1],
    ]) {
      expect(contextualWeights('linucb', models, x, { rng: rng(), minShare: 0.05, vetoed: ['b'] })).toEqual({ a: 0.95, b: 0.05 });
      expect(contextualWeights('squarecb', models, x, { rng: rng(), minShare: 0.05, vetoed: ['b'] })).toEqual({ a: 0.95, b: 0.05 });
      expect(contextualWeights('linear-thompson', models, x, { rng: rng(), minShare: 0.3 }).b).toBeGreaterThanOrEqual(0.3 - 1e-12);
    }
  });

  it.each(['linear-thompson', 'linucb', 'squarecb'] as const)('%s learns a different best arm per segment', (algorithm) => {
    // a is right 80 % of the time in segment 0 and 40 % in segment 1; b the reverse.
    const accuracy: Record<string, [number, number]> = { a: [0.8, 0.4], b: [0.4, 0.8] };
    const stats = new Map<string, RidgeStats>([
      ['a', emptyRidgeStats(2)],
      ['b', emptyRidgeStats(2)],
    ]);
    const random = seededRng(11);
    let current: ArmModel[] = [];
    for (let t = 0; t < 3000; t++) {
      if (t % 50 === 0)
        current = fitArmModels(
          [...stats].map(([name, s]) => ({ name, stats: s })),
          { rewardKind: 'binary', dimension: 2 },
        );
      const segment = t % 2;
      const x = [1, segment];
      const { variant } = chooseArm(contextualWeights(algorithm, current, x, { rng: random, samples: 200 }), random);
      const reward = random() < accuracy[variant][segment] ? 1 : 0;
      stats.set(variant, addRidge(stats.get(variant)!, ridgeObservation(x, reward)));
    }
    const final = (x: number[]) => contextualWeights(algorithm, current, x, { rng: random });
    expect(final([1, 0]).a).toBeGreaterThan(0.9);
    expect(final([1, 1]).b).toBeGreaterThan(0.9);
  });
});
