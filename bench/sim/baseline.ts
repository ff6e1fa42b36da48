/**
 * The decision rules as they were before issue #24 (commit 63ade31), kept here only so
 * that `npm run sim -- --only decisions` can measure them beside the rules that replaced
 * them, in the same runs. Nothing in the product calls these.
 *
 * - Reward: the mSPRT interval Δ ± h with each arm's own sample variance plugged in,
 *   floored at the rule-of-three Bernoulli variance 3/n(1 − 3/n) whatever the reward's
 *   scale, τ² = (0.075 σ)² with σ² pooled; fail when the upper bound is < 0, pass when the
 *   lower bound is > −margin (absolute), inconclusive when both arms reach maxSamples.
 * - Split: Pearson's chi-square of the served *requests* against the configured shares,
 *   at every look, pausing below p = 0.001 (once 100 requests are counted).
 * - Latency (until the README quick start's canary was rolled back on two slow requests):
 *   fail when the lower edge of the candidate's p99 bucket is above maxLatencyRatio × the
 *   upper edge of the primary's, both read off the counts as they are.
 */
import {
  type ArmEvidence,
  type ArmStats,
  chiSquareUpperTail,
  DEFAULT_MIXTURE_SD_IN_SIGMAS,
  type GuardrailSettings,
  mean,
  LATENCY_BUCKETS_MS,
  mixtureHalfWidth,
  quantileFromBuckets,
  ruleOfThreeVariance,
  SRM_P_THRESHOLD,
  variance,
} from '@switchyard/strategies';

export type BaselineVerdict = 'waiting' | 'continue' | 'pass' | 'fail' | 'inconclusive';

function flooredVariance(stats: ArmStats): number {
  return Math.max(variance(stats), ruleOfThreeVariance(stats.count));
}

/** The old `differenceConfidenceSequence` and the reward part of the old `judgeCandidate`. */
export function baselineVerdict(
  candidate: ArmStats,
  primary: ArmStats,
  settings: Pick<GuardrailSettings, 'alpha' | 'minSamples' | 'maxSamples' | 'margin'>,
): BaselineVerdict {
  if (candidate.count < settings.minSamples || primary.count < settings.minSamples) return 'waiting';
  const [vc, vp] = [flooredVariance(candidate), flooredVariance(primary)];
  const v = vc / candidate.count + vp / primary.count;
  const pooled = ((candidate.count - 1) * vc + (primary.count - 1) * vp) / (candidate.count + primary.count - 2);
  const halfWidth = mixtureHalfWidth(v, DEFAULT_MIXTURE_SD_IN_SIGMAS ** 2 * pooled, settings.alpha);
  const delta = mean(candidate) - mean(primary);
  if (delta + halfWidth < 0) return 'fail';
  if (delta - halfWidth > -settings.margin) return 'pass';
  if (candidate.count >= settings.maxSamples && primary.count >= settings.maxSamples) return 'inconclusive';
  return 'continue';
}

/** The old split check: Pearson's chi-square on request counts of two arms, below SRM_P_THRESHOLD. */
export function baselineSplitMismatch(candidateRequests: number, primaryRequests: number, candidateShare: number): boolean {
  const total = candidateRequests + primaryRequests;
  if (total < 100) return false;
  const [ec, ep] = [candidateShare * total, (1 - candidateShare) * total];
  const chi2 = (candidateRequests - ec) ** 2 / ec + (primaryRequests - ep) ** 2 / ep;
  return chiSquareUpperTail(chi2, 1) < SRM_P_THRESHOLD;
}

/** The old latency guardrail: the p99 estimates' bucket edges, once both arms have minSamples successes. */
export function baselineLatencyFailure(
  candidate: Pick<ArmEvidence, 'latencyBuckets'>,
  primary: Pick<ArmEvidence, 'latencyBuckets'>,
  settings: Pick<GuardrailSettings, 'minSamples' | 'maxLatencyRatio'>,
): boolean {
  const successes = (buckets: readonly number[]) => buckets.reduce((sum, count) => sum + count, 0);
  if (successes(candidate.latencyBuckets) < settings.minSamples || successes(primary.latencyBuckets) < settings.minSamples) return false;
  const candidateP99 = quantileFromBuckets(candidate.latencyBuckets, 0.99)!;
  const floor = LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.indexOf(candidateP99) - 1] ?? 0;
  return floor > settings.maxLatencyRatio * quantileFromBuckets(primary.latencyBuckets, 0.99)!;
}
