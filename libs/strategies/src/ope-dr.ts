import type { ContextualBanditAlgorithm } from '@switchyard/contracts';
import { argmaxAll } from './bandit-arm';
import { ArmModel, ContextualOptions, contextualWeights, inverseGapWeights } from './contextual-bandit';
import { policyModels } from './contextual-policy';
import { choleskySolve, dot } from './linalg';
import { accumulateObservation, addRidge, emptyRidgeStats, fitRidge, predictRidge, ridgeLeverage, RidgeModel, RidgeStats, subtractRidge } from './ridge';
import {
  DEFAULT_LEVEL,
  DEFAULT_MIN_ESS,
  ipsFromWeights,
  LoggedSample,
  ModelOpeMethod,
  OpeEstimate,
  OpeMethod,
  opeSummary,
  refusalsFromWeights,
  snipsFromWeights,
  varianceOfMean,
} from './ope';
import { seededRng } from './rng';
import type { Weights } from './weights';

/**
 * Off-policy evaluation with a reward model: the direct method (DM), doubly robust (DR)
 * and self-normalised doubly robust (SNDR) estimators, beside IPS and SNIPS on the same
 * weights, for a target policy that may depend on the request's context.
 *
 * The reward model q̂(x, a) is a ridge regression of the reward on the context features,
 * one per variant, *cross-fitted*: the log is split into K folds and each sample's q̂ is
 * fit on the other K − 1, so a sample's own reward never enters the model that corrects
 * it and DR's variance is the plain variance of its terms (Chernozhukov et al., "Double/
 * debiased machine learning", Econometrics Journal 21, 2018; Kallus & Uehara, "Double
 * reinforcement learning for efficient off-policy evaluation", JMLR 21, 2020). Ridge
 * statistics are sums, so the K out-of-fold fits cost one pass: the total minus each fold.
 *
 * - DM: V = (1/n) Σᵢ Σₐ π(a|xᵢ) q̂(xᵢ, a). Low variance; biased as far as q̂ is wrong.
 *   Its interval adds the model's estimation variance (`directModelError`) to the
 *   spread of its terms, but cannot cover a wrong model.
 * - DR (Dudík, Langford & Li, "Doubly Robust Policy Evaluation and Learning", ICML 2011):
 *   V = (1/n) Σᵢ [Σₐ π(a|xᵢ) q̂(xᵢ, a) + wᵢ (rᵢ − q̂(xᵢ, aᵢ))], wᵢ = π(aᵢ|xᵢ)/μᵢ. Unbiased
 *   when the logged propensities are right, whatever q̂; its variance shrinks as far as q̂
 *   explains the reward.
 * - SNDR: DR with the correction self-normalised, (Σ wᵢ(rᵢ − q̂ᵢ)) / (Σ wᵢ) in place of
 *   its mean (Swaminathan & Joachims, "The Self-Normalized Estimator for Counterfactual
 *   Learning", NeurIPS 2015, for self-normalisation; Kallus & Uehara, "Intrinsically
 *   efficient, stable, and bounded off-policy evaluation", NeurIPS 2019, for its DR form;
 *   Open Bandit Pipeline's SelfNormalizedDoublyRobust). Interval by the delta method.
 *
 * Intervals are V ± t·s/√n with s the spread of each estimator's terms (its influence
 * function), like IPS's in ope.ts, and like them clustered by unit when the samples carry
 * one (`varianceOfMean`), t on the effective number of clusters less one
 * (`intervalQuantile`; ≈ z without units); DM's adds its model's estimation variance.
 */

/** A logged decision with the context it was made in. */
export interface ContextualSample extends LoggedSample {
  /** The encoded context (`extractContext`), the intercept first; [1] for none. */
  x: readonly number[];
}

/** What the reward model of DM, DR and SNDR was fit on (`withLoggedContexts`). */
export type RewardModelBasis = 'context' | 'variant-means';

/** The context of a decision that logged none: the intercept alone. */
const NO_CONTEXT: readonly number[] = [1];

/**
 * The samples as the reward model sees them. When every one carries the context it was
 * logged with (a contextual bandit's `context`), all of one length, the model is a ridge
 * regression on it per variant; otherwise every sample gets the intercept alone and the
 * model is each variant's ridge mean. All or none: one regression needs one dimension, and
 * a window that mixes lengths (the features changed) or context-free decisions (a context
 * that could not be read) has no common one. DR stays unbiased either way; the context only
 * makes its reward model, so its interval, better.
 */
export function withLoggedContexts(samples: readonly (LoggedSample & { context?: readonly number[] })[]): {
  samples: ContextualSample[];
  rewardModel: RewardModelBasis;
} {
  const d = samples[0]?.context?.length;
  const contextual = d !== undefined && samples.every((s) => s.context?.length === d);
  return {
    samples: samples.map(({ context, ...s }) => ({ ...s, x: contextual ? context! : NO_CONTEXT })),
    rewardModel: contextual ? 'context' : 'variant-means',
  };
}

/** The target policy: its probability of each variant at a context. */
export type ContextualPolicy = (x: readonly number[]) => Weights;

/** A policy that ignores the context: a fixed strategy's `targetProbabilities`. */
export function fixedPolicy(target: Weights): ContextualPolicy {
  return () => target;
}

/** Cross-fitting folds. @default 5 */
export const DEFAULT_FOLDS = 5;

export interface ModelOpeOptions {
  /** @default 5 */
  folds?: number;
  /** λ of the reward model. @default 1 */
  ridge?: number;
  /** Confidence of the intervals (Student t on G* − 1 degrees of freedom, `intervalQuantile`). @default 0.95 */
  level?: number;
  /** Refusal threshold on the effective sample size. @default 30 */
  minEss?: number;
}

export type OffPolicyMethod = OpeMethod | ModelOpeMethod;

export interface OffPolicyEvaluation {
  /** Why the estimates are not to be trusted; empty when they are (see `refusalsFromWeights`). */
  refusals: string[];
  /** Every estimator on the same log; IPS and SNIPS as in ope.ts, with π(aᵢ|xᵢ). */
  estimates: Record<Exclude<OffPolicyMethod, 'clipped-ips'>, OpeEstimate>;
  /** The policy's mean probability of each variant over the logged contexts. */
  target: Weights;
}

/** Sample i's fold: interleaved, so every fold spans the whole window even when the log is in time order. */
const foldOf = (i: number, folds: number) => i % folds;

/**
 * q̂(xᵢ, a) for every sample i and variant a, each from the ridge fit of a's rewards on
 * the folds other than i's. A variant with no logged reward out of the fold has the
 * prior's prediction, 0; support refusals keep such a variant out of a trusted answer.
 */
export function crossFittedRewards(
  samples: readonly ContextualSample[],
  variants: readonly string[],
  opts: Pick<ModelOpeOptions, 'folds' | 'ridge'> = {},
): number[][] {
  const folds = opts.folds ?? DEFAULT_FOLDS;
  if (!(Number.isInteger(folds) && folds >= 2)) throw new RangeError(`folds must be a whole number ≥ 2, got ${folds}`);
  const d = samples.length ? samples[0].x.length : 1;
  const perFold = new Map<string, RidgeStats[]>(variants.map((v) => [v, Array.from({ length: folds }, () => emptyRidgeStats(d))]));
  samples.forEach((s, i) => {
    if (s.x.length !== d) throw new RangeError(`every context must have ${d} numbers; sample ${i} has ${s.x.length}`);
    const stats = perFold.get(s.variant);
    if (stats) accumulateObservation(stats[foldOf(i, folds)], s.x, s.reward);
  });
  const models = new Map<string, RidgeModel[]>(
    [...perFold].map(([variant, stats]) => {
      const total = stats.reduce(addRidge);
      return [variant, stats.map((fold) => fitRidge(subtractRidge(total, fold), { ridge: opts.ridge }))];
    }),
  );
  return samples.map((s, i) => variants.map((v) => predictRidge(models.get(v)![foldOf(i, folds)], s.x)));
}

/**
 * The variance DM's estimate owes to the reward model's own estimation error. DM is
 * Σₐ θ̂ₐᵀmₐ with mₐ = (1/n) Σᵢ π(a|xᵢ)xᵢ, and θ̂ₐ = Aₐ⁻¹bₐ (ridge.ts), fit on the whole log.
 * - `variance`, under the model's assumptions (linear in the features, independent noise
 *   of constant variance): θ̂ₐ has the posterior covariance σ̂ₐ²Aₐ⁻¹, so this part is
 *   Σₐ σ̂ₐ²·mₐᵀAₐ⁻¹mₐ, with σ̂ₐ² = RSS/(Σw − d).
 * - `influence`, for a log clustered by unit, where a unit's noise is not independent:
 *   linearised, DM's model error is Σₐ (Aₐ⁻¹mₐ)ᵀ Σ_{i: aᵢ = a} xᵢeᵢ (eᵢ = rᵢ − xᵢᵀθ̂ₐ), a sum
 *   of per-sample terms n·vᵢ with vᵢ = (A_{aᵢ}⁻¹m_{aᵢ})ᵀxᵢ·eᵢ, whose cluster-robust variance
 *   is the sandwich A⁻¹(Σ_u g_u g_uᵀ)A⁻¹ of Cameron & Miller 2015, eq. 11, projected on mₐ.
 * Neither can see the model being wrong (misspecification): that bias is what DR corrects
 * and DM's interval does not cover.
 */
function directModelError(
  samples: readonly ContextualSample[],
  probabilities: readonly Weights[],
  variants: readonly string[],
  ridge?: number,
): { variance: number; influence: number[] } {
  const n = samples.length;
  const d = samples[0].x.length;
  const influence = new Array<number>(n).fill(0);
  let variance = 0;
  for (const v of variants) {
    const stats = emptyRidgeStats(d);
    const m = new Array<number>(d).fill(0);
    samples.forEach((s, i) => {
      if (s.variant === v) accumulateObservation(stats, s.x, s.reward);
      const p = Object.hasOwn(probabilities[i], v) ? probabilities[i][v] : 0;
      for (let j = 0; j < d; j++) m[j] += (p * s.x[j]) / n;
    });
    const model = fitRidge(stats, { ridge });
    variance += (model.rss / Math.max(model.weight - d, 1)) * ridgeLeverage(model, m);
    const direction = choleskySolve(model.cholesky, d, m);
    samples.forEach((s, i) => {
      if (s.variant === v) influence[i] = n * dot(direction, s.x) * (s.reward - predictRidge(model, s.x));
    });
  }
  return { variance, influence };
}

/**
 * The mean of an estimator's per-sample terms, their residuals, and its standard error, clustered by unit
 * (`varianceOfMean`): the terms are DR's (and SNDR's, linearised) influence terms, so the
 * variance of their mean is the estimator's, summed within a unit before squaring when the
 * samples carry units — a sticky canary logs a unit many times, and its rewards (hence its
 * residuals rᵢ − q̂ᵢ) move together. Cross-fitting leaves a unit's other samples in the
 * model that corrects it; with a per-variant reward model that is a shared mean, whose
 * share of one unit in a fit of thousands is negligible.
 */
function meanAndSe(samples: readonly ContextualSample[], terms: readonly number[]): { mean: number; se: number; residuals: number[] } {
  const mean = terms.reduce((sum, t) => sum + t, 0) / terms.length;
  const residuals = terms.map((t) => t - mean);
  return { mean, se: Math.sqrt(varianceOfMean(samples, residuals)), residuals };
}

/**
 * DM and its interval: the spread of its terms plus the model's estimation variance
 * (`directModelError`). On a log with units, both parts of each sample's influence are
 * summed within its unit before squaring (`varianceOfMean`), since a unit's residuals, and
 * so its share of the model's error, move together; without units, the model-based
 * variance as before.
 */
function directMethod(
  samples: readonly ContextualSample[],
  direct: readonly number[],
  error: { variance: number; influence: readonly number[] },
  weights: readonly number[],
  level: number,
): OpeEstimate {
  const mean = direct.reduce((sum, t) => sum + t, 0) / direct.length;
  const spread = direct.map((t) => t - mean);
  const clustered = samples.some((s) => s.unit !== undefined);
  const residuals = clustered ? spread.map((t, i) => t + error.influence[i]) : spread;
  const variance = varianceOfMean(samples, residuals) + (clustered ? 0 : error.variance);
  return opeSummary('dm', samples, weights, residuals, mean, Math.sqrt(variance), level);
}

/** Every estimator of `policy`'s mean reward on the log, and the reasons not to trust them. */
export function evaluateOffPolicy(samples: readonly ContextualSample[], policy: ContextualPolicy, opts: ModelOpeOptions = {}): OffPolicyEvaluation {
  const level = opts.level ?? DEFAULT_LEVEL;
  const n = samples.length;
  const probabilities = samples.map((s) => policy(s.x));
  // A fixed policy (`fixedPolicy`: the same answer everywhere) keeps its probabilities exactly, not a mean with rounding.
  const target: Weights = n && probabilities.every((p) => p === probabilities[0]) ? { ...probabilities[0] } : {};
  if (!Object.keys(target).length) {
    for (const p of probabilities) for (const [v, share] of Object.entries(p)) target[v] = (target[v] ?? 0) + share;
    for (const v of Object.keys(target)) target[v] /= n;
  }
  const variants = [...new Set([...Object.keys(target), ...samples.map((s) => s.variant)])];
  const weights = samples.map((s, i) => (Object.hasOwn(probabilities[i], s.variant) ? probabilities[i][s.variant] : 0) / s.probability);
  const refusals = refusalsFromWeights(samples, weights, target, { minEss: opts.minEss ?? DEFAULT_MIN_ESS });

  const q = crossFittedRewards(samples, variants, opts);
  const direct = samples.map((_, i) => variants.reduce((sum, v, k) => sum + (Object.hasOwn(probabilities[i], v) ? probabilities[i][v] : 0) * q[i][k], 0));
  const residual = samples.map((s, i) => s.reward - q[i][variants.indexOf(s.variant)]);
  const dr = direct.map((dm, i) => dm + weights[i] * residual[i]);
  const sumW = weights.reduce((sum, w) => sum + w, 0);
  const meanW = sumW / n;
  // SNDR = D̄ + c with c = Σwe/Σw; linearised, its terms are dmᵢ + wᵢ(eᵢ − c)/w̄ (mean D̄).
  const c = sumW > 0 ? weights.reduce((sum, w, i) => sum + w * residual[i], 0) / sumW : NaN;
  const sndr = direct.map((dm, i) => dm + (weights[i] * (residual[i] - c)) / meanW);

  const model = (method: ModelOpeMethod, terms: number[], shift = 0, extraVariance = 0): OpeEstimate => {
    if (!n) return opeSummary(method, samples, weights, [], NaN, NaN, level);
    const { mean, se, residuals } = meanAndSe(samples, terms);
    return opeSummary(method, samples, weights, residuals, mean + shift, Math.sqrt(se * se + extraVariance), level);
  };
  return {
    refusals,
    target,
    estimates: {
      ips: ipsFromWeights('ips', samples, weights, level),
      snips: snipsFromWeights(samples, weights, level),
      dm: n ? directMethod(samples, direct, directModelError(samples, probabilities, variants, opts.ridge), weights, level) : model('dm', direct),
      dr: model('dr', dr),
      sndr: model('sndr', sndr, c),
    },
  };
}

/**
 * A contextual bandit given by its parameters (its arms' fitted models, frozen) as a
 * policy to evaluate: its probabilities at each context, floors and vetoes included.
 * Linear Thompson's are Monte Carlo estimates, drawn with the same seed at every context
 * so that the policy is a function of the context alone.
 */
export function contextualPolicy(
  algorithm: ContextualBanditAlgorithm,
  models: readonly ArmModel[],
  opts: Omit<ContextualOptions, 'rng'> & { seed?: number } = {},
): ContextualPolicy {
  const seed = opts.seed ?? 1;
  return (x) => contextualWeights(algorithm, models, x, { ...opts, rng: seededRng(seed) });
}

/**
 * The policy of linear reward models at context x, scored xᵀθ: without γ, greedy — the
 * variant of the largest score (ties split evenly), every other at 0, what a contextual
 * bandit would do with these models and no exploration; with γ, SquareCB's
 * `inverseGapWeights` of the scores (greedy is its limit γ → ∞). θ of another length
 * than x is a caller's error.
 */
export function linearModelPolicy(models: Readonly<Record<string, readonly number[]>>, gamma?: number): ContextualPolicy {
  const names = Object.keys(models);
  return (x) => {
    const scores = names.map((name) => dot(models[name], x));
    const winners = argmaxAll(scores);
    const shares = gamma === undefined ? scores.map((_, i) => (winners.includes(i) ? 1 / winners.length : 0)) : inverseGapWeights(scores, gamma);
    return Object.fromEntries(names.map((name, i) => [name, shares[i]]));
  };
}

/** A contextual policy to evaluate, as plain data (a worker thread's job carries it). */
export type ContextualTarget =
  /** Per-variant θ, and SquareCB's γ if any: `linearModelPolicy`. */
  | { models: Record<string, number[]>; gamma?: number }
  /** A deployment's own: its stored models (`fitContextualPolicy`), algorithm and settings. */
  | { algorithm: ContextualBanditAlgorithm; fitted: unknown; exploration?: number; gamma?: number; minShare?: number };

/** The policy and the context length it reads; undefined when stored models are not readable (`policyModels`). */
export function resolveContextualTarget(target: ContextualTarget): { policy: ContextualPolicy; dimension: number } | undefined {
  if ('models' in target) return { policy: linearModelPolicy(target.models, target.gamma), dimension: Object.values(target.models)[0]?.length ?? 0 };
  const stored = policyModels(target.fitted);
  if (!stored) return undefined;
  return {
    policy: contextualPolicy(target.algorithm, stored.models, { exploration: target.exploration, gamma: target.gamma, minShare: target.minShare }),
    dimension: stored.dimension,
  };
}
