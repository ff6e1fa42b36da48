/**
 * Sample ratio mismatch: are the arms served in the shares they were meant to be? When not
 * (a buggy split, one arm's events dropped, bots hitting one arm), the arms no longer see
 * the same population and comparing their rewards is not trusted (Fabijan et al., "Diagnosing
 * Sample Ratio Mismatch in Online Controlled Experiments", KDD 2019).
 */

import { murmur3 } from './canary';

/** p below which the served shares are taken to differ from the configured ones (docs/statistics.md, "Sample ratio mismatch"). */
export const SRM_P_THRESHOLD = 0.001;

const EPSILON = 1e-15;
const TINY = 1e-300;
const MAX_ITERATIONS = 1000;

/**
 * ln Γ(x) for x > 0, Lanczos' approximation with Numerical Recipes' coefficients
 * (Press et al., Numerical Recipes in C, 2nd ed., §6.1, gammln): relative error < 2e-10.
 */
export function logGamma(x: number): number {
  // eslint-disable-next-line no-loss-of-precision -- the published coefficients as printed; the parser rounds them as C's did
  const coefficients = [76.18009172947146, -86.50532032941677, 24.01409824083091, -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5];
  let y = x;
  let tmp = x + 5.5;
  tmp -= (x + 0.5) * Math.log(tmp);
  let series = 1.000000000190015;
  for (const c of coefficients) series += c / ++y;
  // eslint-disable-next-line no-loss-of-precision -- √(2π) as printed there
  return -tmp + Math.log((2.5066282746310005 * series) / x);
}

/** P(a, x) by its series, which converges fast for x < a + 1 (Numerical Recipes §6.2, gser). */
function lowerGammaSeries(a: number, x: number): number {
  let term = 1 / a;
  let sum = term;
  for (let n = 1; n <= MAX_ITERATIONS; n++) {
    term *= x / (a + n);
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * EPSILON) break;
  }
  return sum * Math.exp(-x + a * Math.log(x) - logGamma(a));
}

/** Q(a, x) by its continued fraction (modified Lentz), which converges fast for x ≥ a + 1 (Numerical Recipes §6.2, gcf). */
function upperGammaFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i <= MAX_ITERATIONS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < EPSILON) break;
  }
  return Math.exp(-x + a * Math.log(x) - logGamma(a)) * h;
}

/** Regularized upper incomplete gamma Q(a, x) = Γ(a, x) / Γ(a) (Numerical Recipes §6.2, gammq). */
export function regularizedUpperGamma(a: number, x: number): number {
  if (!(a > 0)) throw new RangeError(`the incomplete gamma function needs a > 0, got ${a}`);
  if (!(x > 0)) return 1;
  if (x === Infinity) return 0;
  // Each expansion is used where it converges quickly; the other side is 1 minus it.
  return x < a + 1 ? Math.max(0, 1 - lowerGammaSeries(a, x)) : upperGammaFraction(a, x);
}

/** Upper tail P(X >= x) of chi-square with df degrees of freedom (regularized incomplete gamma Q(df/2, x/2); Numerical Recipes §6.2). */
export function chiSquareUpperTail(x: number, df: number): number {
  if (!(df > 0)) throw new RangeError(`chi-square needs df > 0, got ${df}`);
  return regularizedUpperGamma(df / 2, x / 2);
}

export interface SampleRatioTest {
  /** ln of the Dirichlet-multinomial Bayes factor against the configured shares. */
  logBayesFactor: number;
  /** Anytime-valid p-value, min(1, 1 / Bayes factor): looking at every pass does not make it smaller by chance. */
  p: number;
}

/**
 * Prior concentration of the Dirichlet mixture, α_i = k · share_i: the prior is centred on
 * the configured shares, with the weight of k observations. k = 100 is the default of
 * Lindon & Malek's own implementation (savvi, `Multinomial(alpha, theta_0, k=100)`).
 */
export const SRM_PRIOR_CONCENTRATION = 100;

/**
 * Sample ratio mismatch of counts of *randomisation units* per arm (distinct unit keys,
 * and each request without a unit key as a unit of its own) against the configured shares
 * (which sum to 1 over the arms given; arms with expected share 0 and observed > 0 give p = 0).
 * undefined when fewer than 2 arms or no observations.
 *
 * The anytime-valid multinomial test of Lindon & Malek ("Anytime-Valid Inference for
 * Multinomial Count Data", NeurIPS 2022): under H0 each new unit falls in arm i with
 * probability θ_i (the split hashes units independently of when they come), and the
 * Bayes factor of a Dirichlet(α) mixture against θ,
 *
 *   BF_n = Γ(Σα) / Γ(Σα + n) · Π_i Γ(α_i + x_i) / Γ(α_i) / Π_i θ_i^{x_i},
 *
 * is a nonnegative martingale with mean 1 under H0. By Ville's inequality
 * P(ever BF_n ≥ 1/p) ≤ p, so p_n = min(1, 1/BF_n) may be looked at after every unit and
 * the check still pauses a correct split with probability ≤ SRM_P_THRESHOLD over the whole
 * comparison. Pearson's chi-square, repeated at every look, does not bound that; and it
 * counted requests, which a sticky split does not randomise: a few heavy units then look
 * like a mismatch with nothing broken. Shares are renormalised over the arms given, so
 * shares that sum to 0.999 from rounding do not show up as a mismatch.
 */
export function sampleRatioMismatch(observed: Record<string, number>, expectedShares: Record<string, number>): SampleRatioTest | undefined {
  const arms = [...new Set([...Object.keys(expectedShares), ...Object.keys(observed)])];
  const total = arms.reduce((sum, arm) => sum + (observed[arm] ?? 0), 0);
  const shareTotal = arms.reduce((sum, arm) => sum + Math.max(0, expectedShares[arm] ?? 0), 0);
  if (arms.length < 2 || !(total > 0) || !(shareTotal > 0)) return undefined;
  // Traffic on an arm that should get none is a mismatch whatever the counts: no share explains it.
  if (arms.some((arm) => !((expectedShares[arm] ?? 0) > 0) && (observed[arm] ?? 0) > 0)) return { logBayesFactor: Infinity, p: 0 };
  const expectedArms = arms.filter((arm) => (expectedShares[arm] ?? 0) > 0);
  if (expectedArms.length < 2) return { logBayesFactor: 0, p: 1 };
  let logBayesFactor = logGamma(SRM_PRIOR_CONCENTRATION) - logGamma(SRM_PRIOR_CONCENTRATION + total);
  for (const arm of expectedArms) {
    const share = expectedShares[arm] / shareTotal;
    const prior = SRM_PRIOR_CONCENTRATION * share;
    const count = observed[arm] ?? 0;
    logBayesFactor += logGamma(prior + count) - logGamma(prior) - count * Math.log(share);
  }
  return { logBayesFactor, p: Math.min(1, Math.exp(-logBayesFactor)) };
}

/** Seed of the unit subsample's hash: not the split's (`bucketOf`, seed 0), so which units are counted says nothing of their arm. */
const UNIT_SAMPLE_SEED = 0x5a3c_19e7;

/**
 * Whether the distinct-unit count keeps `unitKey` when it counts a deterministic 1 in
 * `every` of them: the same answer in every process and at every request, so a unit is
 * counted once or never. Under a correct split the sampled units are still split in the
 * configured shares (the two hashes are independent), so `sampleRatioMismatch` stays valid
 * on them, with `every` times fewer units to see a mismatch by.
 */
export function unitSampled(unitKey: string, every: number): boolean {
  if (!(Number.isInteger(every) && every >= 1)) throw new RangeError(`every must be a whole number ≥ 1, got ${every}`);
  return murmur3(unitKey, UNIT_SAMPLE_SEED) % every === 0;
}

/**
 * An arm's inverse-propensity sums count as evidence only once their Kish effective
 * number of requests, S²/Q (Kish, Survey Sampling, 1965), reaches this: below it the
 * sum is a handful of large terms (an arm near its floor) whose normal approximation,
 * with a variance estimated from those same terms, is poor.
 */
export const MIN_EFFECTIVE_REQUESTS = 50;

/** One arm's inverse-propensity sums over the requests it was chosen for: S = Σ 1/p, Q = Σ 1/p². */
export interface ArmPropensitySums {
  sum: number;
  sumSq: number;
}

export interface PropensityTest {
  /** Bonferroni-adjusted p over every arm. */
  p: number;
  /** The arm furthest from its expectation: its S (expected: the requests) and z. */
  arm: string;
  sum: number;
  z: number;
  /** Arms with enough effective requests to be tested (the others still count in the adjustment). */
  tested: number;
}

/**
 * Sample ratio mismatch of a bandit, whose split moves by design, against its logged
 * propensities (docs/statistics.md, "Sample ratio mismatch"). If request t chose arm a with the probability
 * π_t(a) it logged, then S_a = Σ_{t: a chosen} 1/π_t(a) is the Horvitz–Thompson
 * estimator of the number of requests N (Horvitz & Thompson, "A generalization of sampling
 * without replacement from a finite universe", JASA 47, 1952): each request adds
 * 1{a chosen}/π_t(a), whose expectation given the past is 1 whatever the weights were, so
 * E[S_a] = N for every arm, Var(S_a) = Σ_t (1/π_t(a) − 1) (the terms are martingale
 * differences), and Cov(S_a, S_b) = −N (the two indicators are never both 1). Q_a =
 * Σ 1/π_t(a)² estimates Σ_t 1/π_t(a) without bias, so Q_a − N estimates the variance
 * without bias too; but with drifting weights that estimate moves with the same few rare
 * terms that move S_a, and in simulated Thompson logs it called 2 to 75 times the
 * nominal false alarms at p < 0.001. The ratio estimator of Hájek ("Comment on a paper by D. Basu",
 * 1971) is used instead: Q_a / S_a estimates the mean of 1/π_t(a), so V_a = N (Q_a / S_a
 * − 1) and z_a = (S_a − N) / √V_a. With a fixed split V_a = N (1/π_a − 1) exactly and
 * z_a² = (n_a − N π_a)² / (N π_a (1 − π_a)), Pearson's chi-square of the arm against the rest.
 *
 * A deficit (S_a < N) is where that estimate can fail: an arm that spent a stretch at its
 * floor and was by chance never chosen there leaves no trace of it, so S_a and V_a are
 * both too small and z_a too far out (in the simulation, 15 times the nominal rate at
 * 500 requests over three arms). A deficit D = N − S_a is therefore given the p of its
 * plainest such explanation when that is larger: D requests at the floor share `floor`
 * (the least any arm is served, minShare) all passing the arm by, (1 − floor)^D. A surplus
 * needs no such guard: rare large terms that did come also raise Q_a.
 *
 * The arms are combined by Bonferroni over the K arms, each two-sided: p = min(1, K ·
 * min_a p_a). A chi-square of all arms with the covariance above would need its inverse,
 * and that matrix is singular for a fixed split (Σ_a π_a (S_a − N) = 0) and nearly so when
 * weights drift, so errors in the estimated entries would be amplified along that
 * direction; Bonferroni is valid under any dependence and needs only each arm's own
 * variance. It costs a factor K (for two arms at a fixed split z_1 = −z_2, so p is twice
 * Pearson's). Arms below MIN_EFFECTIVE_REQUESTS are not tested but still count in K.
 * `requests` is N: every request of the comparison, whichever arm answered. undefined when
 * no arm is tested. The threshold is SRM_P_THRESHOLD, as for the canary.
 */
export function propensityMismatch(requests: number, arms: Record<string, ArmPropensitySums>, floor: number): PropensityTest | undefined {
  const names = Object.keys(arms);
  let worst: Omit<PropensityTest, 'tested'> | undefined;
  let tested = 0;
  for (const arm of names) {
    const { sum, sumSq } = arms[arm];
    if (!(sum > 0) || (sum * sum) / sumSq < MIN_EFFECTIVE_REQUESTS) continue;
    tested++;
    const variance = requests * (sumSq / sum - 1);
    // An arm every request was certain to choose has no variance: any departure is a mismatch.
    const z = variance > 0 ? (sum - requests) / Math.sqrt(variance) : sum === requests ? 0 : (sum - requests) * Infinity;
    // Two-sided normal tail P(|Z| ≥ |z|) = P(χ²₁ ≥ z²); a deficit no likelier than an unseen stretch at the floor.
    const normal = chiSquareUpperTail(z * z, 1);
    const p = z < 0 ? Math.max(normal, (1 - floor) ** (requests - sum)) : normal;
    if (!worst || p < worst.p) worst = { arm, sum, z, p };
  }
  if (!worst) return undefined;
  return { ...worst, p: Math.min(1, names.length * worst.p), tested };
}
