import tQuantile from '@stdlib/stats-base-dists-t-quantile';
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
/** Confidence of the intervals. @default 0.95 */
export const DEFAULT_LEVEL = 0.95;

/**
 * The effective number of clusters G* of Carter, Schnepel & Steigerwald ("Asymptotic
 * behavior of a t-test robust to cluster heterogeneity", Review of Economics and Statistics
 * 99(4), 2017): G* = G / (1 + Γ), Γ the squared coefficient of variation of the clusters'
 * shares γ_g of the estimator's variance, i.e. G* = (Σ_g γ_g)² / Σ_g γ_g² — G when the
 * clusters weigh alike, fewer when a handful carries the estimate.
 *
 * For a mean of per-sample terms, γ_g = aᵀ(XᵀX)⁻¹X_gᵀΩ_gX_g(XᵀX)⁻¹a is ∝ Var(Σ_{i∈g} wᵢeᵢ), the
 * importance weights wᵢ scaling each sample's term; with their working Ω_g (errors of equal
 * variance, correlation ρ within a cluster) that is γ_g = Σ_g wᵢ² + ρ·((Σ_g wᵢ)² − Σ_g wᵢ²).
 * CSS take ρ as given (ρ = 1 their conservative bound); here ρ̂ is its moment estimate
 * from the estimator's own residual terms uᵢ (≈ wᵢeᵢ), E[uᵢuⱼ] = ρ·σ²·wᵢwⱼ within a cluster:
 * ρ̂ = (Σ_g [(Σ_g uᵢ)² − Σ_g uᵢ²] / Σ_g [(Σ_g wᵢ)² − Σ_g wᵢ²]) / (Σ uᵢ² / Σ wᵢ²), within [0, 1].
 * Chosen on the simulation's tuning seeds over ρ = 0 (too few degrees of freedom
 * removed: 89–93 % for the canary's variant) and ρ = 1 (G* near 1 for ≈ 50 lognormal
 * units: intervals of absurd width); docs/off-policy-evaluation.md has the figures.
 *
 * A unit the target never uses (every w = 0) adds nothing, so `single` on a canary's
 * variant counts the canary's units only. A sample without a unit is a cluster of its own.
 * Without a unit of more than one sample, n: the interval is t on n − 1 (≈ z at the sizes
 * the refusals allow), as before units existed — the weights' spread alone is not counted
 * against the degrees of freedom there, so a log whose every sample is its own unit keeps
 * the interval of one without units (those intervals were tuned on the Thompson tables).
 */
export function effectiveClusters(samples: readonly Pick<LoggedSample, 'unit'>[], weights: readonly number[], residuals: readonly number[]): number {
  // Per cluster of the samples the target uses: Σw, Σw², Σu, Σu² (a sample without a unit is its own cluster).
  const clusters = new Map<string | number, [number, number, number, number]>();
  const units = new Set<string>();
  let grouped = false;
  samples.forEach((sample, i) => {
    if (sample.unit !== undefined) {
      grouped ||= units.has(sample.unit);
      units.add(sample.unit);
    }
    // A sample the target does not use (w = 0) has no share; IPS's residual there, −V, would read as correlation.
    if (!(weights[i] > 0)) return;
    const key = sample.unit ?? i;
    const c = clusters.get(key) ?? [0, 0, 0, 0];
    c[0] += weights[i];
    c[1] += weights[i] * weights[i];
    c[2] += residuals[i];
    c[3] += residuals[i] * residuals[i];
    clusters.set(key, c);
  });
  if (!grouped) return samples.length;
  let ww = 0;
  let crossW = 0;
  let uu = 0;
  let crossU = 0;
  for (const [sw, sww, su, suu] of clusters.values()) {
    ww += sww;
    crossW += sw * sw - sww;
    uu += suu;
    crossU += su * su - suu;
  }
  const rho = crossW > 0 && uu > 0 ? Math.min(1, Math.max(0, crossU / crossW / (uu / ww))) : 0;
  // (Σ γ)² / Σ γ²: how many equal shares would spread as unevenly, Kish's effective size of the shares.
  return effectiveSampleSize([...clusters.values()].map(([sw, sww]) => sww + rho * (sw * sw - sww)));
}

/**
 * The two-sided quantile of an interval at confidence `level`: Student's t on G* − 1
 * degrees of freedom (`effectiveClusters`), the test Carter, Schnepel & Steigerwald 2017
 * (§IV) show keeps its size with few or unequal clusters, where the normal one over-rejects
 * (Cameron & Miller 2015, §VI). NaN below G* = 1 (one cluster carries everything: no
 * interval).
 */
export function intervalQuantile(
  samples: readonly Pick<LoggedSample, 'unit'>[],
  weights: readonly number[],
  residuals: readonly number[],
  level: number,
): number {
  const dof = effectiveClusters(samples, weights, residuals) - 1;
  return dof > 0 ? tQuantile(1 - (1 - level) / 2, dof) : NaN;
}

export interface OpeOptions {
  /** @default "snips" */
  method?: OpeMethod;
  /** Ceiling on a weight, `clipped-ips` only. @default 10 */
  clip?: number;
  /** Confidence of the interval (Student t on G* − 1 degrees of freedom, `intervalQuantile`). @default 0.95 */
  level?: number;
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

/** An estimate with its interval, estimate ± t·se, t from `intervalQuantile` (every estimator's, one path); `residuals` are the terms its se was clustered from. */
export function opeSummary(
  method: OpeEstimate['method'],
  samples: readonly Pick<LoggedSample, 'unit'>[],
  weights: readonly number[],
  residuals: readonly number[],
  estimate: number,
  se: number,
  level: number,
): OpeEstimate {
  const n = weights.length;
  const meanWeight = n ? weights.reduce((sum, w) => sum + w, 0) / n : NaN;
  const t = n ? intervalQuantile(samples, weights, residuals, level) : NaN;
  return { method, estimate, low: estimate - t * se, high: estimate + t * se, n, ess: effectiveSampleSize(weights), meanWeight };
}

/**
 * Inverse propensity scoring (Horvitz & Thompson 1952): V = (1/n) Σ wᵢrᵢ, unbiased when
 * every logged propensity is right and positive wherever the target puts weight. Its
 * interval is V ± t·s/√n for the mean of the n terms wᵢrᵢ (s with n − 1; t on G* − 1, `intervalQuantile`).
 */
export function ipsFromWeights(method: OpeMethod, samples: readonly LoggedSample[], weights: readonly number[], level: number): OpeEstimate {
  const n = samples.length;
  if (!n) return opeSummary(method, samples, weights, [], NaN, NaN, level);
  const terms = samples.map((s, i) => weights[i] * s.reward);
  const value = terms.reduce((sum, t) => sum + t, 0) / n;
  const residuals = terms.map((t) => t - value);
  return opeSummary(method, samples, weights, residuals, value, Math.sqrt(varianceOfMean(samples, residuals)), level);
}

export function ipsEstimate(samples: readonly LoggedSample[], target: Weights, level = DEFAULT_LEVEL): OpeEstimate {
  return ipsFromWeights('ips', samples, importanceWeights(samples, target), level);
}

/**
 * Clipped IPS (Ionides 2008, "Truncated importance sampling", JCGS 17(2); Bottou et al.
 * 2013, "Counterfactual reasoning and learning systems", JMLR 14): IPS with each weight capped at
 * `clip`, trading a bias (towards 0 for non-negative rewards) for a bounded variance.
 * The interval is IPS's over the clipped terms: it covers the clipped estimand, which
 * equals the true value only when no weight needed clipping.
 */
export function clippedIpsEstimate(samples: readonly LoggedSample[], target: Weights, clip = DEFAULT_CLIP, level = DEFAULT_LEVEL): OpeEstimate {
  if (!(clip > 0)) throw new RangeError(`clip must be > 0, got ${clip}`);
  const weights = importanceWeights(samples, target).map((w) => Math.min(w, clip));
  return ipsFromWeights('clipped-ips', samples, weights, level);
}

/**
 * Self-normalised IPS (Owen 2013, §9.2; Swaminathan & Joachims 2015):
 * V = Σ wᵢrᵢ / Σ wᵢ. Dividing by the realised Σw instead of n makes it a weighted mean:
 * always within the rewards' range, invariant to a constant shift of the rewards, and
 * far less variable than IPS when weights are large; biased by O(1/n), consistent.
 *
 * Interval: the delta method on the ratio of the two means (Owen 2013, §9.2):
 * Var(V) ≈ Σ wᵢ²(rᵢ − V)² / (Σ wᵢ)², and V ± t·√Var (`intervalQuantile`); with units, the terms wᵢ(rᵢ − V)
 * of a unit are summed before squaring (`clusteredSquares`). On-policy (every w = 1) this is
 * the plain mean with the variance Σ(rᵢ − r̄)²/n². Adaptive logging (a bandit's
 * propensities depend on earlier rewards) keeps the estimate consistent, but its
 * normal approximation needs many effective samples (Hadad et al. 2021, "Confidence
 * intervals for policy evaluation in adaptive experiments", PNAS): hence the ESS
 * refusal, and the simulation that measures the coverage (bench/sim/ope.ts).
 */
export function snipsEstimate(samples: readonly LoggedSample[], target: Weights, level = DEFAULT_LEVEL): OpeEstimate {
  return snipsFromWeights(samples, importanceWeights(samples, target), level);
}

/** SNIPS with each sample's weight given: π(aᵢ|xᵢ)/μᵢ for a policy that depends on the context. */
export function snipsFromWeights(samples: readonly LoggedSample[], weights: readonly number[], level = DEFAULT_LEVEL): OpeEstimate {
  let sumW = 0;
  let sumWR = 0;
  for (let i = 0; i < samples.length; i++) {
    sumW += weights[i];
    sumWR += weights[i] * samples[i].reward;
  }
  if (!(sumW > 0)) return opeSummary('snips', samples, weights, [], NaN, NaN, level);
  const value = sumWR / sumW;
  const bounded = samples.every((sample) => sample.reward >= 0 && sample.reward <= 1);
  // Each sample's term wᵢ(rᵢ − V), summed within a unit before squaring (`clusteredSquares`).
  const residuals = samples.map((sample, i) => weights[i] * (sample.reward - value));
  const { squares, correction } = clusteredSquares(samples, residuals);
  const se = Math.sqrt(correction * squares) / sumW;
  const result = opeSummary('snips', samples, weights, residuals, value, se, level);
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
  // Its z is the t quantile every interval takes (`intervalQuantile`): the score interval
  // rests on the same clustered variance, so on the same few effective clusters.
  const [low, high] = wilson(value, nEff, intervalQuantile(samples, weights, residuals, level));
  return { ...result, low, high };
}

/** Wilson's score interval for a proportion p̂ observed on n trials. */
export function wilson(p: number, n: number, z: number): [number, number] {
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
  const level = opts.level ?? DEFAULT_LEVEL;
  const method = opts.method ?? 'snips';
  switch (method) {
    case 'snips':
      return snipsEstimate(samples, target, level);
    case 'ips':
      return ipsEstimate(samples, target, level);
    case 'clipped-ips':
      return clippedIpsEstimate(samples, target, opts.clip ?? DEFAULT_CLIP, level);
    default:
      throw new Error(`unknown OPE method ${JSON.stringify(method satisfies never)}`);
  }
}

/**
 * Why an evaluation cannot be trusted; empty when it can. Importance sampling can only
 * reweight what was logged: a variant the target would serve but the logging policy
 * never did (support, or positivity, violated) contributes nothing, and no weighting can
 * recover its reward. Below `minEss` effective samples the interval is not to be
 * trusted (see `snipsEstimate`; the simulation measures it), nor with one unit behind all
 * of them (`effectiveClusters`).
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
  // One unit behind every sample the policy uses leaves G* = 1: no t interval (`intervalQuantile`), however many samples.
  const used = new Set(samples.map((s, i) => (weights[i] > 0 ? (s.unit ?? i) : undefined)).filter((key) => key !== undefined));
  if (used.size === 1) return ['every sample this policy uses comes from one unit: an interval needs at least two'];
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
