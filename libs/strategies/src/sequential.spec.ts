import { addReward, ArmStats, emptyStats } from './arm-stats';
import { addToUnitSums, emptyUnitSums, type UnitSums } from './cluster';
import { seededRng } from './rng';
import {
  meanVarianceAt,
  mixtureHalfWidth,
  nullMeans,
  nullTest,
  pairedNullTest,
  pooledRewardVariance,
  restrictedRates,
  ruleOfThreeVariance,
  type SequentialArm,
} from './sequential';

const bernoulli = (count: number, successes: number): ArmStats => ({ count, sum: successes, sumSq: successes });
const rewards = (values: number[]): ArmStats => values.reduce(addReward, emptyStats());

describe(mixtureHalfWidth.name, () => {
  it('is about 3.04 standard errors at its best mixing variance (τ² ≈ 8V, alpha 0.05)', () => {
    expect(mixtureHalfWidth(1, 8, 0.05)).toBeCloseTo(3.035, 3);
  });

  it('is wider than the fixed-horizon 1.96 standard errors for any τ², and 0 without variance', () => {
    for (const tau2 of [0.01, 0.1, 1, 10, 100, 1e4]) expect(mixtureHalfWidth(1, tau2, 0.05)).toBeGreaterThan(1.96);
    expect(mixtureHalfWidth(0, 1, 0.05)).toBe(0);
  });
});

describe(ruleOfThreeVariance.name, () => {
  it('is the variance of a Bernoulli at 3/n, at most 1/4', () => {
    expect(ruleOfThreeVariance(300)).toBeCloseTo(0.01 * 0.99, 12);
    expect(ruleOfThreeVariance(4)).toBeCloseTo(0.25, 12);
  });
});

describe(restrictedRates.name, () => {
  // Reference values: the binomial likelihood maximised numerically under p_a − p_b = θ
  // (scipy.optimize.minimize_scalar, bounded, xatol 1e-13), not the closed form.
  it.each([
    [196, 200, 3724, 3800, -0.01, 0.9703404526892655],
    [4, 200, 76, 3800, -0.01, 0.010907952211330714],
    [200, 200, 3724, 3800, -0.01, 0.9710097778902337],
    [30, 100, 50, 200, 0.05, 0.3],
    [0, 200, 0, 3800, -0.01, 0],
  ])('%i/%i against %i/%i under θ = %f is the restricted maximum of the likelihood', (xa, na, xb, nb, theta, expected) => {
    const [pa, pb] = restrictedRates(bernoulli(na, xa), bernoulli(nb, xb), theta);
    expect(pa).toBeCloseTo(expected, 7);
    expect(pa - pb).toBeCloseTo(theta, 12);
  });

  it('is the pooled rate under no difference', () => {
    expect(restrictedRates(bernoulli(200, 200), bernoulli(3800, 3720), 0)).toEqual([0.98, 0.98]);
  });
});

describe(meanVarianceAt.name, () => {
  it('is the binomial variance at the null rate for 0/1 rewards, floored by the rule of three', () => {
    expect(meanVarianceAt({ stats: bernoulli(200, 200) }, 0.97, 'binary')).toBeCloseTo((0.97 * 0.03) / 200, 15);
    expect(meanVarianceAt({ stats: bernoulli(200, 200) }, 1, 'binary')).toBeCloseTo(ruleOfThreeVariance(200) / 200, 15);
  });

  it('is the spread around the null mean for other rewards, with no floor', () => {
    // Σ (r − 0.5)² / (n(n − 1)) for 0.1, 0.3, 0.2: (0.16 + 0.04 + 0.09) / 6.
    expect(meanVarianceAt({ stats: rewards([0.1, 0.3, 0.2]) }, 0.5, 'continuous')).toBeCloseTo(0.29 / 6, 15);
    expect(meanVarianceAt({ stats: rewards([0.001, 0.001, 0.001]) }, 0.001, 'continuous')).toBeCloseTo(0, 15);
  });

  it('is the cluster-robust variance when the arm has unit sums', () => {
    // Units {1,0,1}, {1}, {0,0}, {1,1,1,1}: K/(K−1) Σ (S_u − 0.5 n_u)² / N² = 4/3 · 0.55 / 100 = 0.0733….
    const units: number[][] = [[1, 0, 1], [1], [0, 0], [1, 1, 1, 1]];
    let sums: UnitSums = emptyUnitSums();
    for (const unit of units)
      unit.reduce((before, r) => ((sums = addToUnitSums(sums, before, r)), { count: before.count + 1, sum: before.sum + r }), { count: 0, sum: 0 });
    const arm: SequentialArm = { stats: rewards(units.flat()), units: sums };
    expect(meanVarianceAt(arm, 0.5, 'continuous')).toBeCloseTo(0.07333333333333333, 12);
  });
});

describe(nullMeans.name, () => {
  it('moves each arm of a continuous reward towards the null in proportion to its variance', () => {
    const a = { stats: rewards([0.1, 0.3, 0.2, 0.5, 0.4, 0.35]) };
    const b = { stats: rewards([0.6, 0.2, 0.4, 0.5, 0.45, 0.3, 0.55, 0.25]) };
    const [ma, mb] = nullMeans(a, b, -0.05, 'continuous');
    expect(ma).toBeCloseTo(0.335368047702272, 12);
    expect(mb).toBeCloseTo(0.385368047702272, 12);
  });
});

describe(nullTest.name, () => {
  it('matches the closed form computed independently, 0/1 rewards, at −margin and at 0', () => {
    // Python (reference script, numeric restricted MLE): V₀ = Σ max(p̃(1−p̃), rule of three)/n,
    // τ² = 0.075²·V₀/(1/n_a + 1/n_b), h = sqrt(2V₀(V₀+τ²)/τ² · ln(sqrt((V₀+τ²)/V₀)/0.05)).
    const [a, b] = [{ stats: bernoulli(200, 196) }, { stats: bernoulli(3800, 3724) }];
    const atMargin = nullTest(a, b, -0.01, 0.05, { kind: 'binary' })!;
    expect(atMargin.variance).toBeCloseTo(0.000148971147954566, 10);
    expect(atMargin.halfWidth).toBeCloseTo(0.044014953451310214, 6);
    const atZero = nullTest(a, b, 0, 0.05, { kind: 'binary' })!;
    expect(atZero.delta).toBeCloseTo(0, 12);
    expect(atZero.variance).toBeCloseTo(0.0001031578947368422, 12);
    expect(atZero.halfWidth).toBeCloseTo(0.036626920001925155, 10);
  });

  it('matches the closed form for a continuous reward', () => {
    const a = { stats: rewards([0.1, 0.3, 0.2, 0.5, 0.4, 0.35]) };
    const b = { stats: rewards([0.6, 0.2, 0.4, 0.5, 0.45, 0.3, 0.55, 0.25]) };
    const test = nullTest(a, b, -0.05, 0.05, { kind: 'continuous' })!;
    expect(test.delta).toBeCloseTo(-0.09791666666666665, 12);
    expect(test.variance).toBeCloseTo(0.00623959485280331, 12);
    expect(test.halfWidth).toBeCloseTo(1.407881196786684, 10);
  });

  it('is undefined while either arm has fewer than two rewards, and refuses a bad alpha or τ²', () => {
    expect(nullTest({ stats: bernoulli(1, 1) }, { stats: bernoulli(100, 50) }, 0, 0.05, { kind: 'binary' })).toBeUndefined();
    expect(() => nullTest({ stats: bernoulli(10, 1) }, { stats: bernoulli(10, 5) }, 0, 1, { kind: 'binary' })).toThrow(RangeError);
    expect(() => nullTest({ stats: bernoulli(10, 1) }, { stats: bernoulli(10, 5) }, 0, 0.05, { kind: 'binary', tau2: 0 })).toThrow(RangeError);
  });

  it('is scale-free for continuous rewards: rewards ×10 and θ ×10 give a half-width ×10', () => {
    const scaled = (s: ArmStats, k: number): ArmStats => ({ count: s.count, sum: k * s.sum, sumSq: k * k * s.sumSq });
    const [a, b] = [rewards([0.1, 0.3, 0.2, 0.5]), rewards([0.6, 0.2, 0.4, 0.5, 0.45])];
    const one = nullTest({ stats: a }, { stats: b }, -0.05, 0.05, { kind: 'continuous' })!;
    const ten = nullTest({ stats: scaled(a, 10) }, { stats: scaled(b, 10) }, -0.5, 0.05, { kind: 'continuous' })!;
    expect(ten.halfWidth).toBeCloseTo(10 * one.halfWidth, 10);
  });

  it('does not shrink on a lucky small arm: a perfect 5 % canary at p = 0.98 keeps the width the null implies', () => {
    const lucky = nullTest({ stats: bernoulli(200, 200) }, { stats: bernoulli(3800, 3724) }, -0.01, 0.05, { kind: 'binary' })!;
    // Δ̂ = 0.02: not enough to pass (Δ̂ − h > −0.01) on 200 rewards.
    expect(lucky.delta - lucky.halfWidth).toBeLessThan(-0.01);
  });

  it('rejects a true null at some look in ≤ alpha of runs, peeked at every pair; 1.96·se peeked at does not', () => {
    // 200 runs of two Bernoulli(0.5) arms, looked at after every pair from 20 up to 1000 per arm.
    const rng = seededRng(7);
    let everRejected = 0;
    let naiveEverRejected = 0;
    for (let run = 0; run < 200; run++) {
      let [a, b] = [emptyStats(), emptyStats()];
      let [rejected, naiveRejected] = [false, false];
      for (let i = 1; i <= 1000; i++) {
        a = addReward(a, rng() < 0.5 ? 1 : 0);
        b = addReward(b, rng() < 0.5 ? 1 : 0);
        if (i < 20) continue;
        const test = nullTest({ stats: a }, { stats: b }, 0, 0.05, { kind: 'binary' })!;
        rejected ||= Math.abs(test.delta) > test.halfWidth;
        const se = Math.sqrt(((a.sum / a.count) * (1 - a.sum / a.count)) / a.count + ((b.sum / b.count) * (1 - b.sum / b.count)) / b.count);
        naiveRejected ||= Math.abs(test.delta) > 1.96 * se;
      }
      everRejected += +rejected;
      naiveEverRejected += +naiveRejected;
    }
    // Binomial(200, 0.05) exceeds 18 with probability < 1 %.
    expect(everRejected).toBeLessThanOrEqual(18);
    expect(naiveEverRejected).toBeGreaterThan(18);
  });
});

describe(pooledRewardVariance.name, () => {
  it('pools each arm around its own mean', () => {
    // (0.02 + 0.02) / (3 + 3 − 2): arms {0.1, 0.2, 0.3} and {1.1, 1.2, 1.3}.
    expect(pooledRewardVariance(rewards([0.1, 0.2, 0.3]), rewards([1.1, 1.2, 1.3]))).toBeCloseTo(0.01, 12);
  });
});

describe(pairedNullTest.name, () => {
  it('matches the closed form on differences (hand-computed: d = 1,0,0,1,−1,0,1,0,0,1, θ = −0.1)', () => {
    // V₀ = Σ(d + 0.1)²/(10·9) = 5.7/90; τ² = 0.075²·10·V₀; h = sqrt(2V₀(V₀+τ²)/τ² · ln(sqrt((V₀+τ²)/V₀)/0.05)).
    const test = pairedNullTest(rewards([1, 0, 0, 1, -1, 0, 1, 0, 0, 1]), -0.1, 0.05)!;
    expect(test.delta).toBeCloseTo(0.3, 12);
    expect(test.variance).toBeCloseTo(0.06333333333333334, 12);
    expect(test.halfWidth).toBeCloseTo(2.6815083037050664, 10);
    expect(pairedNullTest(rewards([1]), 0, 0.05)).toBeUndefined();
  });

  it('needs fewer requests than the unpaired test when the arms share what makes a request hard', () => {
    // Each request has a difficulty both arms feel; the candidate is 0.05 worse.
    const rng = seededRng(3);
    let [a, b, d] = [emptyStats(), emptyStats(), emptyStats()];
    let [paired, unpaired] = [0, 0];
    for (let i = 1; i <= 20000 && !(paired && unpaired); i++) {
      const difficulty = rng();
      const [ra, rb] = [difficulty - 0.05 + 0.02 * (rng() - 0.5), difficulty + 0.02 * (rng() - 0.5)];
      [a, b, d] = [addReward(a, ra), addReward(b, rb), addReward(d, ra - rb)];
      if (i < 20) continue;
      const p = pairedNullTest(d, 0, 0.05)!;
      if (!paired && p.delta + p.halfWidth < 0) paired = i;
      const u = nullTest({ stats: a }, { stats: b }, 0, 0.05, { kind: 'continuous' })!;
      if (!unpaired && u.delta + u.halfWidth < 0) unpaired = i;
    }
    expect(paired).toBeGreaterThan(0);
    expect(unpaired).toBeGreaterThan(5 * paired);
  });
});
