/**
 * Always-valid bounds on a latency quantile, read from bucket counts (LATENCY_BUCKETS_MS).
 *
 * The latency guardrail looks at every pass, often with a few hundred requests per arm. A
 * p99 read off a hundred requests is their second-slowest: one stalled request (a GC pause,
 * a loaded machine) moves it by a bucket or two, and looked at again and again, sooner or
 * later it crosses any ratio. So the guardrail compares bounds, not estimates: the candidate's
 * p99 is above b only when the share of its requests slower than b is shown to exceed 1 %,
 * and the primary's p99 is at most b only when its share slower than b is shown to be
 * below 1 %. This is the construction of Howard & Ramdas, "Sequential estimation of quantiles
 * with applications to A/B-testing and best-arm identification" (Bernoulli 28(3), 2022):
 * q_p > b ⟺ P(X > b) > 1 − p, a Bernoulli mean at a fixed b, tested sequentially.
 *
 * Each share is tested by a mixture of likelihood ratios (Robbins, "Statistical methods
 * related to the law of the iterated logarithm", Ann. Math. Statist. 1970): under the null
 * share s ≤ s₀ (resp. ≥ s₀), every ratio Π (s_j/s₀)^k ((1−s_j)/(1−s₀))^(n−k) with s_j ≥ s₀
 * (resp. ≤ s₀) is a non-negative supermartingale of mean ≤ 1, so is their average, and
 * Ville's inequality bounds the chance it ever reaches 1/α by α, however often it is read.
 * The alternatives s_j are a grid in odds (s₀'s odds × 2^±j, j = 1…12) with equal weights:
 * it costs at most ln 12 on the threshold, and covers shares from s₀ to near 1 (or near 0).
 *
 * Only one b can be wrong: counts above b fall as b grows and the ratio grows with the
 * count, so a bound past the true quantile needs the test at the first bucket past it to
 * have rejected a true null. No correction over buckets is owed.
 */
import { LATENCY_BUCKETS_MS } from './report';

const GRID = Array.from({ length: 12 }, (_, j) => 2 ** (j + 1));

/** ln Σ_j w_j exp(x_j) for equal weights, without overflow. */
function logMeanExp(xs: readonly number[]): number {
  const top = Math.max(...xs);
  return top + Math.log(xs.reduce((sum, x) => sum + Math.exp(x - top), 0) / xs.length);
}

/** The share at odds ratio `ratio` to the share s0. */
function shareAtOddsRatio(s0: number, ratio: number): number {
  const odds = (s0 / (1 - s0)) * ratio;
  return odds / (1 + odds);
}

/**
 * Whether k of n observations above the threshold show, at level alpha and at any look,
 * that the share above it is greater than s0 (`direction` 'above') or less than s0 ('below').
 */
export function shareShown(k: number, n: number, s0: number, direction: 'above' | 'below', alpha: number): boolean {
  if (n === 0) return false;
  const logRatios = GRID.map((ratio) => {
    const s = shareAtOddsRatio(s0, direction === 'above' ? ratio : 1 / ratio);
    return k * Math.log(s / s0) + (n - k) * Math.log((1 - s) / (1 - s0));
  });
  return logMeanExp(logRatios) >= Math.log(1 / alpha);
}

/** Counts above each bucket bound: above[i] = requests slower than LATENCY_BUCKETS_MS[i]. */
function countsAbove(buckets: readonly number[]): number[] {
  const above = buckets.map(() => 0);
  for (let i = buckets.length - 2; i >= 0; i--) above[i] = above[i + 1] + buckets[i + 1];
  return above;
}

/**
 * The largest bucket bound the q-quantile is shown to exceed (level alpha, any look): the
 * quantile lies above it. 0 when none is shown.
 */
export function quantileShownAbove(buckets: readonly number[], q: number, alpha: number): number {
  const n = buckets.reduce((sum, count) => sum + count, 0);
  const above = countsAbove(buckets);
  let bound = 0;
  for (let i = 0; i < buckets.length - 1; i++) if (shareShown(above[i], n, 1 - q, 'above', alpha)) bound = LATENCY_BUCKETS_MS[i];
  return bound;
}

/**
 * The smallest bucket bound the q-quantile is shown not to exceed (level alpha, any look).
 * Infinity when none is shown: too few requests to bound a tail (at alpha 0.0125, a p99
 * needs 460 of them with none slow, 1 140 with 0.2 % slow).
 */
export function quantileShownAtMost(buckets: readonly number[], q: number, alpha: number): number {
  const n = buckets.reduce((sum, count) => sum + count, 0);
  const above = countsAbove(buckets);
  for (let i = 0; i < buckets.length - 1; i++) if (shareShown(above[i], n, 1 - q, 'below', alpha)) return LATENCY_BUCKETS_MS[i];
  return Infinity;
}
