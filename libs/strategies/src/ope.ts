import type { EvaluationPolicy, JoinedEvent } from '@switchyard/contracts';
import { configuredShares } from './plan';
import { normalizeWeights, Weights } from './weights';

/**
 * Off-policy evaluation: what another policy would have earned, estimated from traffic
 * logged under the deployment's own (logging) policy, by importance sampling. Each
 * logged request counts with weight w = π(a) / μ(a), the target policy's probability of
 * the variant that answered over the probability the logging policy had of choosing it.
 * References: Horvitz & Thompson (1952) for IPS; Owen, "Monte Carlo theory, methods and
 * examples" (2013), ch. 9 for self-normalised importance sampling and its variance;
 * Swaminathan & Joachims, "The Self-Normalized Estimator for Counterfactual Learning"
 * (NeurIPS 2015) for why SNIPS is the default in the contextual-bandit setting.
 */

/** One logged, rewarded decision of the logging policy. */
export interface LoggedSample {
  /** The variant the logging policy chose, and that answered. */
  variant: string;
  /** μ(variant): the probability the logging policy chose it with (the event's `probability`). */
  probability: number;
  reward: number;
  /** The unit it was served to (`unitKey`): samples of one unit are one cluster of the interval (`clusteredSquares`); absent, its own. */
  unit?: string;
}

/**
 * Σ over clusters of (Σ of the cluster's residuals)², and the K/(K − 1) small-sample
 * correction, for the cluster-robust (sandwich) variance of an estimator that is a mean of
 * per-sample terms (Liang & Zeger 1986; Cameron & Miller, "A Practitioner's Guide to
 * Cluster-Robust Inference", J. Human Resources 2015, eq. 11). A sticky canary logs each
 * unit many times, and a unit's rewards are correlated (the same customer): summing
 * squared residuals sample by sample understates the variance, and the interval covered
 * 58–86 % in the simulation. A sample without a unit is a cluster of its own.
 * Without any unit the correction is 1 and the squares are the sample-by-sample ones, so
 * an unclustered log keeps its interval exactly.
 */
export function clusteredSquares(samples: readonly Pick<LoggedSample, 'unit'>[], residuals: readonly number[]): { squares: number; correction: number } {
  const byUnit = new Map<string, number>();
  let squares = 0;
  let clusters = 0;
  samples.forEach((sample, i) => {
    if (sample.unit === undefined) {
      squares += residuals[i] * residuals[i];
      clusters++;
    } else byUnit.set(sample.unit, (byUnit.get(sample.unit) ?? 0) + residuals[i]);
  });
  if (!byUnit.size) return { squares, correction: 1 };
  for (const total of byUnit.values()) squares += total * total;
  clusters += byUnit.size;
  return { squares, correction: clusters > 1 ? clusters / (clusters - 1) : NaN };
}

/**
 * Variance of an estimator that is the mean of n per-sample terms, from `residuals` (each
 * term minus the estimate; for a ratio or self-normalised estimator, its linearised
 * influence terms: the delta method, Deng, Knoblich & Lu, KDD 2018, §3). Clustered by unit
 * (`clusteredSquares`): K/(K − 1) · Σ_u (Σ_{i∈u} residualᵢ)² / n², the cluster-robust
 * sandwich of Cameron & Miller 2015, eq. 11; a sample without a unit is a cluster of its
 * own. Without any unit, s²/n with s on n − 1 (the same number when every sample is its
 * own unit, K = n). NaN below two samples.
 */
export function varianceOfMean(samples: readonly Pick<LoggedSample, 'unit'>[], residuals: readonly number[]): number {
  const n = samples.length;
  if (n < 2) return NaN;
  const { squares, correction } = clusteredSquares(samples, residuals);
  return samples.every((s) => s.unit === undefined) ? squares / (n - 1) / n : (correction * squares) / (n * n);
}

export const OPE_METHODS = ['snips', 'ips', 'clipped-ips'] as const;
export type OpeMethod = (typeof OPE_METHODS)[number];
/** The estimators that also use a reward model fit on the log (ope-dr.ts). */
export type ModelOpeMethod = 'dm' | 'dr' | 'sndr';

/** Clipped IPS's default ceiling on a weight. @default 10 */
export const DEFAULT_CLIP = 10;
/** Below this effective sample size an evaluation is refused. @default 30 */
export const DEFAULT_MIN_ESS = 30;
/** Two-sided 95 % normal quantile. */
export const Z95 = 1.959963984540054;

/**
 * The standard normal quantile Φ⁻¹(p), by Acklam's rational approximation (P. J. Acklam,
 * "An algorithm for computing the inverse normal cumulative distribution function",
 * 2003; relative error below 1.15e-9), which is plenty for an interval's z.
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile needs 0 < p < 1, got ${p}`);
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - low) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/** The z of a two-sided interval at confidence `level` (0.95 → 1.96). */
export function zOfLevel(level: number): number {
  return normalQuantile(1 - (1 - level) / 2);
}

export interface OpeOptions {
  /** @default "snips" */
  method?: OpeMethod;
  /** Ceiling on a weight, `clipped-ips` only. @default 10 */
  clip?: number;
  /** Normal quantile of the interval. @default 1.96 (95 %) */
  z?: number;
}

export interface OpeEstimate {
  method: OpeMethod | ModelOpeMethod;
  /** Estimated mean reward per request of the target policy. */
  estimate: number;
  low: number;
  high: number;
  n: number;
  /** Kish's effective sample size of the weights, (Σw)² / Σw². */
  ess: number;
  /** (1/n) Σw over the samples: its expectation is 1 when the logged propensities are right and the target's variants were all loggable (see meanImportanceWeight). */
  meanWeight: number;
}

/**
 * Why a logged event is not a sample of the logging policy's decisions, or undefined when
 * it is one.
 *
 * Fallback answers (`fallbackFrom` set) are left out. The policy chose `fallbackFrom`
 * with `probability`; that arm failed and another answered, so the reward observed is
 * not the chosen arm's. Its propensity does not belong to the variant that answered
 * either: how often a variant answers as a fallback depends on the other arms' failure
 * rates, which nobody logs. Leaving them out treats them like failed predictions with no
 * fallback (which never join, so never reach the estimators): the estimate is then the
 * mean reward of the target policy over the requests its chosen variant would have
 * answered. The self-check still counts them, by the variant chosen (meanImportanceWeight).
 */
export function exclusionOf(event: Pick<JoinedEvent, 'role' | 'probability' | 'fallbackFrom' | 'reward'>): 'shadow' | 'fallback' | 'no-propensity' | undefined {
  if (event.role !== 'served') return 'shadow';
  if (event.fallbackFrom !== undefined) return 'fallback';
  if (!(event.probability > 0) || !Number.isFinite(event.reward)) return 'no-propensity';
  return undefined;
}

/**
 * Whether a joined event adds to the reward statistics bandits learn from (and the
 * report shows). A fallback answer does not: the policy chose `fallbackFrom`, not the
 * variant that answered, and crediting the latter with traffic the policy never gave it
 * would feed its failures-of-others share into its mean and its count, a selection no
 * arm's own probability accounts for. The failed arm is not charged either: its failure
 * is an error (counted in the report and `switchyard_router_fallbacks_total`), not a reward.
 */
export function countsInArmStatistics(event: Pick<JoinedEvent, 'role' | 'fallbackFrom'>): boolean {
  return event.role !== 'served' || event.fallbackFrom === undefined;
}

/**
 * The target policy's probability for each variant, marginally over requests: a single
 * (or shadow: shadows never answer) puts 1 on one variant; a canary puts its share of
 * units on the canary — units are bucketed by a hash that knows nothing of the request,
 * so over many units the marginal is what the policy does, and it is also what canary
 * traffic logs as its propensity; a bandit's fixed weights are scaled to sum to 1.
 */
export function targetProbabilities(policy: Exclude<EvaluationPolicy, { type: 'contextual' }>): Weights {
  // Only a bandit has no configured shares, and it is the other branch.
  return policy.type === 'bandit' ? normalizeWeights({ ...policy.weights }) : configuredShares(policy)!;
}

/** π(a)/μ(a) per sample; a variant the target never chooses weighs 0. */
export function importanceWeights(samples: readonly LoggedSample[], target: Weights): number[] {
  return samples.map((s) => (Object.hasOwn(target, s.variant) ? target[s.variant] : 0) / s.probability);
}

/**
 * The self-check: the mean of π(a)/μ(a) over every decision the logging policy made,
 * where a is the variant it chose. Its expectation is exactly 1 when the logged
 * propensities are right (Σₐ μ(a)·π(a)/μ(a) = Σₐ π(a) = 1, at each request even when μ
 * changes with time) and every variant π uses could be chosen. Fallback answers belong
 * here, by the variant chosen (`fallbackFrom`): left out, the mean would drift above 1 by
 * the share of failed choices, which says nothing about the propensities.
 */
export function meanImportanceWeight(
  decisions: readonly (Pick<LoggedSample, 'variant' | 'probability'> & { x?: readonly number[] })[],
  target: Weights | ((x: readonly number[]) => Weights),
): number {
  if (!decisions.length) return NaN;
  let sum = 0;
  for (const d of decisions) {
    // A contextual target's probabilities at the decision's context (`ContextualPolicy`); the intercept alone without one.
    const p = typeof target === 'function' ? target(d.x ?? [1]) : target;
    sum += (Object.hasOwn(p, d.variant) ? p[d.variant] : 0) / d.probability;
  }
  return sum / decisions.length;
}

/** Kish's effective sample size (Kish 1965, "Survey Sampling"; Owen 2013 §9.3): (Σw)² / Σw²; n when all weights are equal. */
export function effectiveSampleSize(weights: readonly number[]): number {
  let sum = 0;
  let sumSq = 0;
  for (const w of weights) {
    sum += w;
    sumSq += w * w;
  }
  return sumSq > 0 ? (sum * sum) / sumSq : 0;
}

export function opeSummary(method: OpeEstimate['method'], weights: readonly number[], estimate: number, se: number, z: number): OpeEstimate {
  const n = weights.length;
  const meanWeight = n ? weights.reduce((sum, w) => sum + w, 0) / n : NaN;
  return { method, estimate, low: estimate - z * se, high: estimate + z * se, n, ess: effectiveSampleSize(weights), meanWeight };
}

/**
 * Inverse propensity scoring (Horvitz & Thompson 1952): V = (1/n) Σ wᵢrᵢ, unbiased when
 * every logged propensity is right and positive wherever the target puts weight. Its
 * interval is the normal one for a mean of the n terms wᵢrᵢ, V ± z·s/√n (s with n − 1).
 */
export function ipsFromWeights(method: OpeMethod, samples: readonly LoggedSample[], weights: readonly number[], z: number): OpeEstimate {
  const n = samples.length;
  if (!n) return opeSummary(method, weights, NaN, NaN, z);
  const terms = samples.map((s, i) => weights[i] * s.reward);
  const value = terms.reduce((sum, t) => sum + t, 0) / n;
  const variance = varianceOfMean(
    samples,
    terms.map((t) => t - value),
  );
  return opeSummary(method, weights, value, Math.sqrt(variance), z);
}

export function ipsEstimate(samples: readonly LoggedSample[], target: Weights, z = Z95): OpeEstimate {
  return ipsFromWeights('ips', samples, importanceWeights(samples, target), z);
}

/**
 * Clipped IPS (Ionides 2008, "Truncated importance sampling", JCGS 17(2); Bottou et al.
 * 2013, "Counterfactual reasoning and learning systems", JMLR 14): IPS with each weight capped at
 * `clip`, trading a bias (towards 0 for non-negative rewards) for a bounded variance.
 * The interval is IPS's over the clipped terms: it covers the clipped estimand, which
 * equals the true value only when no weight needed clipping.
 */
export function clippedIpsEstimate(samples: readonly LoggedSample[], target: Weights, clip = DEFAULT_CLIP, z = Z95): OpeEstimate {
  if (!(clip > 0)) throw new RangeError(`clip must be > 0, got ${clip}`);
  const weights = importanceWeights(samples, target).map((w) => Math.min(w, clip));
  return ipsFromWeights('clipped-ips', samples, weights, z);
}

/**
 * Self-normalised IPS (Owen 2013, §9.2; Swaminathan & Joachims 2015):
 * V = Σ wᵢrᵢ / Σ wᵢ. Dividing by the realised Σw instead of n makes it a weighted mean:
 * always within the rewards' range, invariant to a constant shift of the rewards, and
 * far less variable than IPS when weights are large; biased by O(1/n), consistent.
 *
 * Interval: the delta method on the ratio of the two means (Owen 2013, §9.2):
 * Var(V) ≈ Σ wᵢ²(rᵢ − V)² / (Σ wᵢ)², and V ± z·√Var; with units, the terms wᵢ(rᵢ − V)
 * of a unit are summed before squaring (`clusteredSquares`). On-policy (every w = 1) this is
 * the plain mean with the variance Σ(rᵢ − r̄)²/n². Adaptive logging (a bandit's
 * propensities depend on earlier rewards) keeps the estimate consistent, but its
 * normal approximation needs many effective samples (Hadad et al. 2021, "Confidence
 * intervals for policy evaluation in adaptive experiments", PNAS): hence the ESS
 * refusal, and the simulation that measures the coverage (bench/sim/ope.ts).
 */
export function snipsEstimate(samples: readonly LoggedSample[], target: Weights, z = Z95): OpeEstimate {
  return snipsFromWeights(samples, importanceWeights(samples, target), z);
}

/** SNIPS with each sample's weight given: π(aᵢ|xᵢ)/μᵢ for a policy that depends on the context. */
export function snipsFromWeights(samples: readonly LoggedSample[], weights: readonly number[], z = Z95): OpeEstimate {
  let sumW = 0;
  let sumWR = 0;
  for (let i = 0; i < samples.length; i++) {
    sumW += weights[i];
    sumWR += weights[i] * samples[i].reward;
  }
  if (!(sumW > 0)) return opeSummary('snips', weights, NaN, NaN, z);
  const value = sumWR / sumW;
  const bounded = samples.every((sample) => sample.reward >= 0 && sample.reward <= 1);
  // Each sample's term wᵢ(rᵢ − V), summed within a unit before squaring (`clusteredSquares`).
  const { squares, correction } = clusteredSquares(
    samples,
    samples.map((sample, i) => weights[i] * (sample.reward - value)),
  );
  const se = Math.sqrt(correction * squares) / sumW;
  const result = opeSummary('snips', weights, value, se, z);
  if (!bounded) return result;
  // Rewards in [0, 1] (every `match` reward): a Wilson score interval (Wilson 1927) at the
  // effective sample size the delta-method variance implies, n* = V(1 − V) / Var(V) — the
  // effective size Korn & Graubard use with the Clopper–Pearson interval for weighted
  // survey proportions ("Confidence intervals for proportions with small expected number
  // of positive counts estimated from survey data", Survey Methodology 24(2), 1998) —
  // capped at Kish's ESS, which the weights alone allow (the cap took the coverage for
  // `single` v2 and a canary from 93 % to 96 % in the simulation, 400 runs).
  // The Wald interval V ± z·se under-covers badly for proportions near 0 or 1 at the
  // effective sizes a rarely played arm gets (Brown, Cai & DasGupta 2001, Statistical
  // Science 16(2)); the simulation showed it: 89–94 % for the rare arms.
  const nEff = se > 0 && value > 0 && value < 1 ? Math.min(result.ess, (value * (1 - value)) / (se * se)) : result.ess;
  const [low, high] = wilson(value, nEff, z);
  return { ...result, low, high };
}

/** Wilson's score interval for a proportion p̂ observed on n trials. */
export function wilson(p: number, n: number, z = Z95): [number, number] {
  if (!(n > 0)) return [NaN, NaN];
  const z2n = (z * z) / n;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  // The score interval always holds p̂; at p̂ = 0 or 1 a bound equals it exactly, and
  // rounding put the upper one at 0.9999999999999999 for about half of all n.
  return [Math.max(0, Math.min(p, centre - half)), Math.min(1, Math.max(p, centre + half))];
}

/** The estimate by `opts.method` (SNIPS unless told otherwise). */
export function estimatePolicyValue(samples: readonly LoggedSample[], target: Weights, opts: OpeOptions = {}): OpeEstimate {
  const z = opts.z ?? Z95;
  const method = opts.method ?? 'snips';
  switch (method) {
    case 'snips':
      return snipsEstimate(samples, target, z);
    case 'ips':
      return ipsEstimate(samples, target, z);
    case 'clipped-ips':
      return clippedIpsEstimate(samples, target, opts.clip ?? DEFAULT_CLIP, z);
    default:
      throw new Error(`unknown OPE method ${JSON.stringify(method satisfies never)}`);
  }
}

/**
 * Why an evaluation cannot be trusted; empty when it can. Importance sampling can only
 * reweight what was logged: a variant the target would serve but the logging policy
 * never did (support, or positivity, violated) contributes nothing, and no weighting can
 * recover its reward. Below `minEss` effective samples the normal interval is not to be
 * trusted (see `snipsEstimate`; the simulation measures it).
 */
export function evaluationRefusals(samples: readonly LoggedSample[], target: Weights, opts: { minEss?: number } = {}): string[] {
  return refusalsFromWeights(samples, importanceWeights(samples, target), target, opts);
}

/**
 * `evaluationRefusals` for a policy that depends on the context: `weights` are each
 * sample's π(aᵢ|xᵢ)/μᵢ and `target` the policy's mean probability of each variant over
 * the logged contexts, which a variant needs to be positive to need support.
 */
export function refusalsFromWeights(samples: readonly LoggedSample[], weights: readonly number[], target: Weights, opts: { minEss?: number } = {}): string[] {
  const minEss = opts.minEss ?? DEFAULT_MIN_ESS;
  if (!samples.length) return ['no joined, served traffic was logged in the window'];
  const logged = new Set(samples.filter((s) => s.probability > 0).map((s) => s.variant));
  const reasons = Object.entries(target)
    .filter(([variant, p]) => p > 0 && !logged.has(variant))
    .map(([variant, p]) => `variant "${variant}" has target probability ${round(p)} but was never served by the logged policy in the window`);
  if (reasons.length) return reasons;
  const ess = effectiveSampleSize(weights);
  if (ess < minEss) return [`effective sample size ${round(ess)} is below ${minEss}: the logged traffic says too little about this policy`];
  // Also per variant: a mixture's overall ESS can be large on the strength of one
  // well-logged variant while another it uses was seen a handful of times; its share of
  // the estimate then rests on those few (the simulation: 93 % coverage without this rule).
  return Object.entries(target)
    .filter(([, p]) => p > 0)
    .flatMap(([variant]) => {
      const own = effectiveSampleSize(weights.filter((_, i) => samples[i].variant === variant));
      return own < minEss
        ? [`variant "${variant}" has an effective sample size of ${round(own)}, below ${minEss}: the logged traffic says too little about it`]
        : [];
    });
}

const round = (x: number) => Math.round(x * 1000) / 1000;
