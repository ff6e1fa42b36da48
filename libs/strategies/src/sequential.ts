/**
 * Always-valid tests on the difference of two arms' means: the controller may look after
 * every labelled pair, stop at any look, and each test still errs with probability ≤ its
 * level over all looks at once. A fixed-horizon test (mean ± 1.96·se) looked at every
 * batch does not: with enough looks it rejects a true null sooner or later (Armitage,
 * McPherson & Rowe 1969).
 *
 * Each test is the mixture sequential probability ratio test (mSPRT) with a normal mixing
 * distribution N(θ, τ²) over the difference, as in Johari, Koomen, Pekelis & Walsh,
 * "Peeking at A/B Tests: Why it matters, and what to do about it", KDD 2017 (the closed form
 * Λ̃ₙ for normal data and a normal mixture), with the variance of the difference evaluated
 * under the null it tests (docs/statistics.md, "Variance under the null"): the pooled
 * rate for "no difference", the restricted maximum-likelihood rates of Farrington &
 * Manning for "worse by exactly the margin". A plug-in variance from each arm's own
 * rewards shrinks on a lucky small arm (a 5 % canary with no failure yet at p = 0.98)
 * and the test then rejects on luck.
 */
import { ArmStats, mean } from './arm-stats';
import { clusteredMeanVariance, type UnitSums } from './cluster';
import type { RewardKind } from './reward';

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

/** One arm as the tests see it: its rewards, and per-unit sums when its requests carried unit keys. */
export interface SequentialArm {
  stats: ArmStats;
  /** Σ over units (`cluster.ts`); absent, every reward is an independent observation. */
  units?: UnitSums;
}

export interface NullTestOptions {
  /** 0/1 rewards (`match`, an error indicator) or any other (`negAbsError`, `explicit`). */
  kind: RewardKind;
  /**
   * Variance τ² of the normal mixing distribution, in squared reward units. Default:
   * (DEFAULT_MIXTURE_SD_IN_SIGMAS · σ)², σ² the variance of one reward under the null,
   * so the default means the same thing for a 0/1 reward and for an absolute error of 40.
   */
  tau2?: number;
}

/**
 * The least variance of one 0/1 reward after n of them: that of a Bernoulli at p = 3/n, the
 * "rule of three" (Hanley & Lippman-Hand, JAMA 1983: after 0 events in n, rates up to ≈ 3/n
 * are still plausible at 95 %). It keeps rare events (error rates of 1 in 10 000) from
 * getting the normal approximation's overconfident width. Only for 0/1 rewards: on another
 * scale 3/n means nothing (an absolute error of 0.001 ± 0.0001 would be swamped by it).
 */
export function ruleOfThreeVariance(count: number): number {
  const p = Math.min(0.5, 3 / count);
  return p * (1 - p);
}

/**
 * Half-width of the mSPRT's acceptance region when the estimate of the difference has
 * variance V and the mixing distribution variance τ²:
 *
 *   sqrt( (2V(V + τ²)/τ²) · ln( sqrt((V + τ²)/V) / α ) )
 *
 * It is the set of Δ̂ for which the test of θ does not reject, Λ(θ) < 1/α, with
 *   Λ(θ) = sqrt(V/(V + τ²)) · exp( τ²(Δ̂ − θ)² / (2V(V + τ²)) )
 * (Johari et al. 2017, Λ̃ₙ with V = σ²_a/n_a + σ²_b/n_b for arms of unequal size); Ville's
 * inequality on the mixture martingale gives P(ever Λ(θ_true) ≥ 1/α) ≤ α. Writing
 * r = τ²/V, the width is sqrt(2V·f(r)) with f(r) = (1 + 1/r)(ln(1/α) + ln(1 + r)/2), which
 * is least near r = 8 (α = 0.05) and grows only logarithmically for larger r. 0 when V = 0.
 */
export function mixtureHalfWidth(v: number, tau2: number, alpha: number): number {
  if (v === 0) return 0;
  return Math.sqrt(((2 * v * (v + tau2)) / tau2) * Math.log(Math.sqrt((v + tau2) / v) / alpha));
}

/**
 * Restricted maximum-likelihood rates (p̃_a, p̃_b) of two binomial arms under
 * H0: p_a − p_b = θ (Farrington & Manning, "Test statistics and sample size formulae for
 * comparative binomial trials with null hypothesis of non-zero risk difference or non-unity
 * relative risk", Stat. Med. 9, 1990, eq. for the risk difference; the likelihood
 * equation is the cubic of Miettinen & Nurminen 1985, solved in closed form):
 *
 *   ρ = n_b/n_a, a = 1 + ρ, b = −(1 + ρ + p̂_a + ρ·p̂_b + θ(ρ + 2)),
 *   c = θ² + θ(2p̂_a + ρ + 1) + p̂_a + ρ·p̂_b, d = −p̂_a·θ(1 + θ),
 *   v = b³/(3a)³ − bc/(6a²) + d/(2a), u = sign(v)·sqrt(b²/(3a)² − c/(3a)),
 *   w = (π + acos(v/u³))/3, p̃_a = 2u·cos(w) − b/(3a), p̃_b = p̃_a − θ.
 *
 * At θ = 0 it is the pooled rate of both arms. Unlike each arm's own rate, it does not
 * follow a lucky small arm to 0 or 1: its variance is what the null says it is.
 */
export function restrictedRates(a: ArmStats, b: ArmStats, theta: number): [number, number] {
  const [pa, pb] = [mean(a), mean(b)];
  if (theta === 0) {
    const pooled = (a.sum + b.sum) / (a.count + b.count);
    return [pooled, pooled];
  }
  const rho = b.count / a.count;
  const qa = 1 + rho;
  const qb = -(1 + rho + pa + rho * pb + theta * (rho + 2));
  const qc = theta * theta + theta * (2 * pa + rho + 1) + pa + rho * pb;
  const qd = -pa * theta * (1 + theta);
  const v = qb ** 3 / (3 * qa) ** 3 - (qb * qc) / (6 * qa * qa) + qd / (2 * qa);
  const u = Math.sign(v) * Math.sqrt(Math.max(0, qb ** 2 / (3 * qa) ** 2 - qc / (3 * qa)));
  // u = 0 only where the cubic has a triple root, at −b/(3a); rounding can push |v/u³| past 1.
  const w = u === 0 ? Math.PI / 2 : (Math.PI + Math.acos(Math.max(-1, Math.min(1, v / u ** 3)))) / 3;
  const restrictedA = Math.min(Math.min(1, 1 + theta), Math.max(Math.max(0, theta), 2 * u * Math.cos(w) - qb / (3 * qa)));
  return [restrictedA, restrictedA - theta];
}

/**
 * Variance of the arm's mean if its true mean were `at`:
 * - with unit sums, the cluster-robust variance around `at` (`clusteredMeanVariance`);
 * - 0/1 rewards, at(1 − at)/n, the binomial variance at the null rate;
 * - other rewards, Σ (r − at)² / (n(n − 1)): the sample variance plus the squared distance
 *   of the arm's mean from `at`, the variance around the null mean.
 * 0/1 rewards are floored at `ruleOfThreeVariance`. NaN below two rewards.
 */
export function meanVarianceAt(arm: SequentialArm, at: number, kind: RewardKind): number {
  const { count, sum, sumSq } = arm.stats;
  if (count < 2) return NaN;
  let v: number;
  if (arm.units) v = clusteredMeanVariance(arm.stats, arm.units, at);
  else if (kind === 'binary') v = (at * (1 - at)) / count;
  else v = Math.max(0, sumSq - 2 * at * sum + at * at * count) / (count * (count - 1));
  return kind === 'binary' ? Math.max(v, ruleOfThreeVariance(count) / count) : v;
}

/**
 * The arms' means under H0: mean_a − mean_b = θ. 0/1 rewards: the restricted
 * maximum-likelihood rates (`restrictedRates`). Others: the point of the null nearest the
 * observed means in the metric of their variances (the Gaussian restricted estimate with
 * the variances known), each arm moved in proportion to its variance V_i:
 * μ̃_a = x̄_a + (θ − Δ̂)·V_a/(V_a + V_b), μ̃_b = x̄_b − (θ − Δ̂)·V_b/(V_a + V_b).
 */
export function nullMeans(a: SequentialArm, b: SequentialArm, theta: number, kind: RewardKind): [number, number] {
  if (kind === 'binary') return restrictedRates(a.stats, b.stats, theta);
  const [ma, mb] = [mean(a.stats), mean(b.stats)];
  let [va, vb] = [meanVarianceAt(a, ma, kind), meanVarianceAt(b, mb, kind)];
  // Both arms without spread: move each by its share of 1/n, as equal variances would.
  if (!(va + vb > 0)) [va, vb] = [1 / a.stats.count, 1 / b.stats.count];
  const shift = theta - (ma - mb);
  return [ma + (shift * va) / (va + vb), mb - (shift * vb) / (va + vb)];
}

export interface NullTest {
  /** mean(a) − mean(b). */
  delta: number;
  /** The null tested, H0: mean(a) − mean(b) = theta. */
  theta: number;
  /** Variance of delta under that null. */
  variance: number;
  /** The test rejects the null, at any look, when |delta − theta| > halfWidth. */
  halfWidth: number;
}

/**
 * The mSPRT of H0: mean(a) − mean(b) = θ at level alpha, with the variance of the
 * difference under that null: V₀ = Var(ā | μ̃_a) + Var(b̄ | μ̃_b) at the null means
 * (`nullMeans`, `meanVarianceAt`). The default τ² = 0.075² · V₀ / (1/n_a + 1/n_b): the
 * reward's null variance per observation, so τ²/V₀ depends only on the counts. undefined
 * while either arm has fewer than two rewards.
 *
 * Rejecting when Λ(θ) ≥ 1/α and the estimate is on one side uses half of a two-sided test:
 * each side errs with probability ≲ α/2. The variances are estimates under the null,
 * plugged in for the known variances the mSPRT assumes; Johari et al. 2017 and Statsig
 * plug in estimates the same way, and asymptotic confidence sequences (Waudby-Smith et al.
 * 2023) justify it as the counts grow. Evaluated under the null, the estimate does not
 * shrink with a lucky arm, which is what kept the plug-in version above α/2 at rates near
 * 0 or 1 on small arms (docs/statistics.md, the simulation).
 */
export function nullTest(a: SequentialArm, b: SequentialArm, theta: number, alpha: number, options: NullTestOptions): NullTest | undefined {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must be in (0, 1), got ${alpha}`);
  if (options.tau2 !== undefined && !(options.tau2 > 0)) throw new RangeError(`tau2 must be > 0, got ${options.tau2}`);
  if (a.stats.count < 2 || b.stats.count < 2) return undefined;
  const [ma, mb] = nullMeans(a, b, theta, options.kind);
  const variance = meanVarianceAt(a, ma, options.kind) + meanVarianceAt(b, mb, options.kind);
  const tau2 = options.tau2 ?? (DEFAULT_MIXTURE_SD_IN_SIGMAS ** 2 * variance) / (1 / a.stats.count + 1 / b.stats.count);
  return { delta: mean(a.stats) - mean(b.stats), theta, variance, halfWidth: mixtureHalfWidth(variance, tau2, alpha) };
}

/**
 * The pooled variance of one reward over both arms, each around its own mean: the
 * reward's spread, for a margin declared in standard deviations. NaN below three rewards.
 */
export function pooledRewardVariance(a: ArmStats, b: ArmStats): number {
  const squares = (s: ArmStats) => (s.count > 0 ? Math.max(0, s.sumSq - (s.sum * s.sum) / s.count) : 0);
  const df = a.count + b.count - 2;
  return df > 0 ? (squares(a) + squares(b)) / df : NaN;
}

/**
 * The mSPRT of H0: E[d] = θ on paired differences d_i = r_a,i − r_b,i, where both arms
 * answered the same request i (a shadow step: the candidate shadows every request the
 * primary serves). `differences` are count, Σd, Σd² of those differences. What the two
 * arms' rewards share (how hard the request was) cancels in d, so Var(d) = σ_a² + σ_b² −
 * 2 Cov(r_a, r_b) is often far smaller than the unpaired σ_a² + σ_b², and the test needs
 * fewer requests for the same width (the paired t-test's advantage; Student 1908).
 *
 * The variance is again the one under the null, Σ(d − θ)²/(n(n − 1)), and the default
 * τ² = 0.075² · n · V₀ (0.075 null standard deviations of one difference), so
 * τ²/V₀ = 0.075² · n. undefined below two pairs.
 */
export function pairedNullTest(differences: ArmStats, theta: number, alpha: number, tau2?: number): NullTest | undefined {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must be in (0, 1), got ${alpha}`);
  if (tau2 !== undefined && !(tau2 > 0)) throw new RangeError(`tau2 must be > 0, got ${tau2}`);
  if (differences.count < 2) return undefined;
  const variance = meanVarianceAt({ stats: differences }, theta, 'continuous');
  const mixing = tau2 ?? DEFAULT_MIXTURE_SD_IN_SIGMAS ** 2 * differences.count * variance;
  return { delta: mean(differences), theta, variance, halfWidth: mixtureHalfWidth(variance, mixing, alpha) };
}
