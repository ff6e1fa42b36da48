/**
 * Always-valid inference on the difference of two arms' means: an interval that may be
 * looked at after every batch, and stopped on at any look, and still covers the true
 * difference with probability ≥ 1 − alpha at all looks at once. A fixed-horizon interval
 * (mean ± 1.96·se) looked at every batch does not: with enough looks it excludes the truth
 * sooner or later (Armitage, McPherson & Rowe 1969).
 *
 * The test is the mixture sequential probability ratio test (mSPRT) with a normal mixing
 * distribution N(0, τ²) over the difference, as in Johari, Koomen, Pekelis & Walsh,
 * "Peeking at A/B Tests: Why it matters, and what to do about it", KDD 2017 (the closed form
 * Λ̃ₙ for normal data and a normal mixture), also used by Optimizely and Statsig.
 */
import { ArmStats, mean, variance } from './arm-stats';

export interface DifferenceBounds {
  /** mean(a) − mean(b). */
  delta: number;
  low: number;
  high: number;
}

/**
 * The default mixing standard deviation τ, in standard deviations of one reward: the
 * mixture spreads its bet over differences of about this size (Johari et al. 2017: τ should
 * match the effects one expects). 0.075 σ is 3 points on a Bernoulli reward around 0.8
 * (σ = 0.4): "a few points". It also puts the tightest interval (at V = τ²/8, see
 * `mixtureHalfWidth`) at ≈ 1 600 candidate rewards on a 10 % canary, the geometric middle of
 * minSamples..maxSamples (200..20 000): there the half-width is 3.04 standard errors, and
 * at either end within 20 % of the best any τ could give there (3.66 at 200, 3.27 at 20 000).
 */
export const DEFAULT_MIXTURE_SD_IN_SIGMAS = 0.075;

export interface SequentialTuning {
  /**
   * Variance τ² of the normal mixing distribution, in squared reward units. Default:
   * (DEFAULT_MIXTURE_SD_IN_SIGMAS · σ)² with σ² the pooled variance of both arms' rewards,
   * so the default means the same thing for a 0/1 reward and for an absolute error of 40.
   */
  tau2?: number;
}

/**
 * A variance that is never 0. Rewards all equal (a model right on every one of 200 labels)
 * would give a zero-width interval, and a verdict on nothing but luck. The floor is the
 * variance p(1 − p) of a Bernoulli at p = 3/n, the "rule of three" (Hanley & Lippman-Hand,
 * JAMA 1983: after 0 events in n, rates up to ≈ 3/n are still plausible at 95 %). It also
 * keeps rare events (error rates of 1 in 10 000) from getting the normal approximation's
 * overconfident width. It is on the 0–1 scale; other rewards with no spread at all are rare.
 */
export function flooredVariance(stats: ArmStats): number {
  // Below two rewards there is no spread to floor, as in `variance`.
  if (stats.count < 2) return NaN;
  const p = Math.min(0.5, 3 / stats.count);
  return Math.max(variance(stats), p * (1 - p));
}

/**
 * Half-width of the mSPRT's always-valid interval when the estimate of the difference has
 * variance V and the mixing distribution variance τ²:
 *
 *   sqrt( (2V(V + τ²)/τ²) · ln( sqrt((V + τ²)/V) / α ) )
 *
 * It is the set of differences θ the test does not reject, Λ(θ) < 1/α, with
 *   Λ(θ) = sqrt(V/(V + τ²)) · exp( τ²(Δ − θ)² / (2V(V + τ²)) )
 * (Johari et al. 2017, Λ̃ₙ with V = σ²_a/n_a + σ²_b/n_b for arms of unequal size); Ville's
 * inequality on the mixture martingale gives P(ever Λ(θ_true) ≥ 1/α) ≤ α. Writing
 * r = τ²/V, the width is sqrt(2V·f(r)) with f(r) = (1 + 1/r)(ln(1/α) + ln(1 + r)/2), which
 * is least near r = 8 (α = 0.05) and grows only logarithmically for larger r.
 */
export function mixtureHalfWidth(v: number, tau2: number, alpha: number): number {
  return Math.sqrt(((2 * v * (v + tau2)) / tau2) * Math.log(Math.sqrt((v + tau2) / v) / alpha));
}

/**
 * Always-valid (1 − alpha) confidence sequence on mean(a) − mean(b) from per-arm count/sum/sumSq. undefined while either arm has < 2 observations.
 *
 * The variances are the arms' sample variances (floored, see `flooredVariance`): the
 * mSPRT assumes them known, and plugging in estimates is valid as the counts grow (the
 * approximation Johari et al. 2017 and Statsig make; asymptotic confidence sequences,
 * Waudby-Smith et al. 2023, justify it). Below a couple of hundred rewards per arm
 * (`minSamples`) the guarantee is only approximate.
 */
export function differenceConfidenceSequence(a: ArmStats, b: ArmStats, alpha: number, tuning: SequentialTuning = {}): DifferenceBounds | undefined {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must be in (0, 1), got ${alpha}`);
  if (tuning.tau2 !== undefined && !(tuning.tau2 > 0)) throw new RangeError(`tau2 must be > 0, got ${tuning.tau2}`);
  if (a.count < 2 || b.count < 2) return undefined;
  const varianceA = flooredVariance(a);
  const varianceB = flooredVariance(b);
  const v = varianceA / a.count + varianceB / b.count;
  const pooled = ((a.count - 1) * varianceA + (b.count - 1) * varianceB) / (a.count + b.count - 2);
  const tau2 = tuning.tau2 ?? DEFAULT_MIXTURE_SD_IN_SIGMAS ** 2 * pooled;
  const delta = mean(a) - mean(b);
  const halfWidth = mixtureHalfWidth(v, tau2, alpha);
  return { delta, low: delta - halfWidth, high: delta + halfWidth };
}
