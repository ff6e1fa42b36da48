import type { ContextualBanditAlgorithm } from '@switchyard/contracts';
import { flooredWeights } from './bandit';
import { argmaxAll } from './bandit-arm';
import type { RewardKind } from './reward';
import { Rng, sampleNormal } from './rng';
import { DEFAULT_THOMPSON_SAMPLES } from './thompson';
import { DEFAULT_MIN_SHARE, Weights } from './weights';
import { emptyRidgeStats, fitRidge, predictRidge, RidgeFitOptions, ridgeLeverage, RidgeModel, RidgeStats } from './ridge';

/** One arm of a contextual bandit: its ridge statistics, absent before its first reward. */
export interface ContextualArm {
  name: string;
  stats?: RidgeStats;
}

/** An arm's fitted model, refit once per refresh and reused for every request until the next. */
export interface ArmModel {
  name: string;
  model: RidgeModel;
  /** σ̂: the reward noise the exploration is scaled by. */
  noiseSd: number;
}

/** Exploration multiplier when a spec leaves it out: v of linear Thompson sampling, α of LinUCB, in units of σ̂. */
export const DEFAULT_EXPLORATION = 1;

/**
 * The noise a reward is assumed to have before the data say: 0.5 for a 0/1 reward (the
 * largest a Bernoulli has), 1 otherwise; it counts as one residual degree of freedom.
 */
const PRIOR_NOISE_SD: Record<RewardKind, number> = { binary: 0.5, continuous: 1 };

export interface ArmModelOptions extends RidgeFitOptions {
  rewardKind: RewardKind;
  /** The context vectors' length, for an arm with no statistics yet. */
  dimension: number;
}

/**
 * Every arm's ridge fit, with σ̂² = (RSS + σ₀²) / (max(Σw − d, 0) + 1): the residual
 * variance with σ₀² worth one degree of freedom, so an arm with few (or identical)
 * rewards still explores instead of claiming zero noise.
 */
export function fitArmModels(arms: readonly ContextualArm[], opts: ArmModelOptions): ArmModel[] {
  const prior = PRIOR_NOISE_SD[opts.rewardKind];
  return arms.map((arm) => {
    const model = fitRidge(arm.stats ?? emptyRidgeStats(opts.dimension), opts);
    const dof = Math.max(model.weight - model.dimension, 0) + 1;
    return { name: arm.name, model, noiseSd: Math.sqrt((model.rss + prior * prior) / dof) };
  });
}

export interface ContextualOptions {
  /** Linear Thompson's draws (LinUCB splits ties evenly and draws nothing); pass a seeded one to reproduce. */
  rng: Rng;
  /** Floor on every arm's share, in every context. @default 0.01 */
  minShare?: number;
  /** Arms held at the floor (vetoed by a guardrail), in every context. */
  vetoed?: readonly string[];
  /** Monte Carlo draws of linear Thompson's probabilities. @default 1000 */
  samples?: number;
  /** v (linear Thompson) or α (LinUCB), times σ̂. @default 1 */
  exploration?: number;
  /** SquareCB's γ. @default `squareCbGamma` of the models */
  gamma?: number;
}

/**
 * SquareCB's γ when a spec leaves it out: 10·√n, n the observations the arms' models were
 * fitted on (Σ wᵢ over the arms, so forgetting lowers it again). Vowpal Wabbit's default
 * for `--squarecb` (γ = gamma_scale · t^gamma_exponent, 10 and 1/2); Foster & Rakhlin's
 * analysis (ICML 2020, Theorem 1) tunes γ ∝ √(KT / Reg_Sq(T)), which for a regression
 * whose square-loss regret grows as log T is of order √T.
 */
export function squareCbGamma(models: readonly ArmModel[]): number {
  return 10 * Math.sqrt(models.reduce((n, m) => n + m.model.weight, 0));
}

/**
 * Inverse gap weighting (Abe & Long 1999; Foster & Rakhlin, "Beyond UCB: Optimal and
 * Efficient Contextual Bandits with Regression Oracles", ICML 2020, Algorithm 1): with K
 * arms of predicted rewards ŷ, each arm a gets 1/(K + γ(ŷ_best − ŷ_a)) and the best the
 * rest. Arms tied for the best split what they get (each's own 1/K and the rest) evenly.
 */
export function inverseGapWeights(scores: readonly number[], gamma: number): number[] {
  const K = scores.length;
  const winners = argmaxAll(scores);
  const best = scores[winners[0]];
  const shares = scores.map((score) => 1 / (K + gamma * (best - score)));
  const rest = 1 - shares.reduce((a, b) => a + b, 0);
  for (const i of winners) shares[i] += rest / winners.length;
  return shares;
}

/**
 * The probability with which each arm should serve the request of context `x`, floors
 * and vetoes applied; sums to 1. Sampling it with `chooseArm` gives the arm and the
 * propensity to log with it.
 *
 * - `linear-thompson` (Agrawal & Goyal, "Thompson Sampling for Contextual Bandits with
 *   Linear Payoffs", ICML 2013): draw θ̃ₐ ~ N(θ̂ₐ, v²σ̂ₐ²Aₐ⁻¹) per arm and serve the arm
 *   with the largest xᵀθ̃ₐ. Only xᵀθ̃ₐ matters, and it is exactly N(xᵀθ̂ₐ, v²σ̂ₐ²·xᵀAₐ⁻¹x),
 *   so each draw is one normal per arm. The probability that each arm wins is estimated
 *   from `samples` joint draws (ties split), and the router samples from that estimate:
 *   the propensity logged is then the exact probability of the draw that was made, and
 *   the estimate's Monte Carlo error (at most 0.5/√samples, 0.016 at 1000) only moves the
 *   policy a little away from exact Thompson sampling, as `thompsonWeights` does.
 * - `linucb` (Li, Chu, Langford & Schapire, "A Contextual-Bandit Approach to Personalized
 *   News Article Recommendation", WWW 2010, the disjoint model): serve the arm with the
 *   largest xᵀθ̂ₐ + α·σ̂ₐ·√(xᵀAₐ⁻¹x); ties share the weight.
 * - `squarecb` (Foster & Rakhlin, ICML 2020): `inverseGapWeights` of the ridge
 *   predictions xᵀθ̂ₐ, the same per-arm regressions as the others (its oracle), with γ
 *   from the spec or `squareCbGamma`. Its shares are exact, nothing is drawn.
 */
export function contextualWeights(algorithm: ContextualBanditAlgorithm, models: readonly ArmModel[], x: readonly number[], opts: ContextualOptions): Weights {
  if (!models.length) return {};
  const means = models.map((m) => predictRidge(m.model, x));
  const spreads = () => {
    const exploration = opts.exploration ?? DEFAULT_EXPLORATION;
    return models.map((m) => exploration * m.noiseSd * Math.sqrt(ridgeLeverage(m.model, x)));
  };
  let raw: number[];
  switch (algorithm) {
    case 'linear-thompson': {
      const samples = opts.samples ?? DEFAULT_THOMPSON_SAMPLES;
      const sd = spreads();
      raw = new Array<number>(models.length).fill(0);
      for (let s = 0; s < samples; s++) {
        const winners = argmaxAll(means.map((mean, i) => sampleNormal(opts.rng, mean, sd[i])));
        for (const i of winners) raw[i] += 1 / winners.length;
      }
      break;
    }
    case 'linucb': {
      const sd = spreads();
      const winners = argmaxAll(means.map((mean, i) => mean + sd[i]));
      raw = means.map((_, i) => (winners.includes(i) ? 1 / winners.length : 0));
      break;
    }
    case 'squarecb':
      raw = inverseGapWeights(means, opts.gamma ?? squareCbGamma(models));
      break;
    default:
      throw new Error(`unknown contextual bandit algorithm ${JSON.stringify(algorithm satisfies never)}`);
  }
  return flooredWeights(Object.fromEntries(models.map((m, i) => [m.name, raw[i]])), opts.minShare ?? DEFAULT_MIN_SHARE, opts.vetoed);
}
