/**
 * The rollout controller's judgement of a candidate against the primary (docs/strategies.md,
 * "Guardrails: the rollout controller", and docs/statistics.md): pure, from the statistics it already has.
 */
import type { DecisionEvidence, Guardrails } from '@switchyard/contracts';
import { ArmStats, mean } from './arm-stats';
import type { UnitSums } from './cluster';
import { quantileShownAbove, quantileShownAtMost } from './quantile-bounds';
import { quantileFromBuckets } from './report';
import type { RewardKind } from './reward';
import { nullTest, pairedNullTest, pooledRewardVariance } from './sequential';

/**
 * What the judgement needs of a spec's guardrails (`Guardrails`, defaults `GUARDRAIL_DEFAULTS` in the contracts), and the
 * kind of its reward (`rewardKindOf(spec.reward)`): the rule-of-three floor is for 0/1 rewards only.
 */
export type GuardrailSettings = Pick<
  Guardrails,
  'metric' | 'alpha' | 'minSamples' | 'maxSamples' | 'margin' | 'marginUnit' | 'maxErrorRateIncrease' | 'maxLatencyRatio'
> & { rewardKind: RewardKind };

/** What is known of one arm: its joined rewards and the report counters of its served (or shadow) predictions. latencyBuckets are counts per bucket of LATENCY_BUCKETS_MS (report.ts). */
export interface ArmEvidence {
  rewards: ArmStats;
  /** Sums of its rewards per unit key (`cluster.ts`), when kept: the reward test then counts units, not requests, as independent. */
  rewardUnits?: UnitSums;
  /**
   * A shadow's paired differences with the primary (count, Σd, Σd² of d = its reward − the
   * primary's on the same request), when kept: with at least minSamples of them the reward
   * test is on these pairs (`pairedNullTest`).
   */
  paired?: ArmStats;
  requests: number;
  errors: number;
  latencyBuckets: readonly number[];
}

export type GuardrailVerdict = 'waiting' | 'continue' | 'pass' | 'fail' | 'inconclusive';

/** The evidence of a decision (`DecisionEvidence` of the contracts) but the split check, which the controller adds. */
export type GuardrailEvidence = Omit<DecisionEvidence, 'srmP' | 'errorRate' | 'p99Ms'> & Required<Pick<DecisionEvidence, 'errorRate' | 'p99Ms'>>;

export interface GuardrailJudgement {
  verdict: GuardrailVerdict;
  reasons: string[];
  evidence: GuardrailEvidence;
}

interface Names {
  candidate: string;
  primary: string;
}

const fixed = (x: number, digits = 3) => x.toFixed(digits);
const percent = (x: number) => `${(100 * x).toFixed(1)}%`;
const confidence = (alpha: number) => `${+(100 * (1 - alpha)).toFixed(2)}% always-valid bounds`;

/**
 * Δ̂ and the two bounds the verdicts read: `high` = Δ̂ + h₀ (h₀ the half-width of the test
 * of "no difference", under its pooled variance) and `low` = Δ̂ − h_m (the test of "worse by
 * exactly the margin", under the restricted variance there). Fail is `high` < 0, pass is
 * `low` > −margin: each is one side of its own always-valid test.
 */
interface DifferenceBounds {
  delta: number;
  low: number;
  high: number;
  paired?: true;
}
const interval = (bounds: DifferenceBounds) => `[${fixed(bounds.low)}, ${fixed(bounds.high)}]`;

/** Each request as a 0/1 error indicator: a Bernoulli arm the sequential test can compare. */
function errorIndicator(arm: ArmEvidence): ArmStats {
  return { count: arm.requests, sum: arm.errors, sumSq: arm.errors };
}

function successes(arm: ArmEvidence): number {
  return arm.latencyBuckets.reduce((sum, count) => sum + count, 0);
}

function errorRateFailure(names: Names, candidate: ArmEvidence, primary: ArmEvidence, settings: GuardrailSettings): string | undefined {
  if (candidate.requests < settings.minSamples || primary.requests < settings.minSamples) return undefined;
  // The same always-valid test as the reward, so looking every batch keeps its false alarms
  // ≤ alpha/2 (one side of a two-sided sequence); the mixture is spread over increases of
  // the size the threshold cares about. Counted on requests, not labels: a candidate that
  // only fails never gets a label, and must not wait for one.
  // The variance is the one under the null tested, "up by exactly maxErrorRateIncrease".
  const scale = Math.max(settings.maxErrorRateIncrease, 0.01);
  const threshold = settings.maxErrorRateIncrease;
  const test = nullTest({ stats: errorIndicator(candidate) }, { stats: errorIndicator(primary) }, threshold, settings.alpha, {
    kind: 'binary',
    tau2: scale * scale,
  });
  if (!test || !(test.delta - test.halfWidth > threshold)) return undefined;
  return (
    `errors: ${names.candidate}'s error rate exceeds ${names.primary}'s by ≥ ${fixed(test.delta - test.halfWidth)} (${confidence(settings.alpha)}; ` +
    `${percent(candidate.errors / candidate.requests)} of ${candidate.requests} vs ${percent(primary.errors / primary.requests)} of ${primary.requests} requests), ` +
    `more than maxErrorRateIncrease ${settings.maxErrorRateIncrease}`
  );
}

function latencyFailure(names: Names, candidate: ArmEvidence, primary: ArmEvidence, settings: GuardrailSettings): string | undefined {
  const [candidateSuccesses, primarySuccesses] = [successes(candidate), successes(primary)];
  if (candidateSuccesses < settings.minSamples || primarySuccesses < settings.minSamples) return undefined;
  // Bounds, not point estimates (quantile-bounds.ts): a p99 of a few hundred requests is
  // their slowest few, and one stalled request would fail a candidate as fast as its
  // primary. Each bound errs with probability ≤ alpha/4 at any look, so a candidate no
  // slower than maxLatencyRatio × the primary fails with probability ≤ alpha/2, like the
  // error-rate test. Resolution is the bucket grid (1, 2, 5, 10, 20, 50 … ms), so "above"
  // is a bucket's lower edge and "at most" its upper one.
  const candidateAbove = quantileShownAbove(candidate.latencyBuckets, 0.99, settings.alpha / 4);
  const primaryAtMost = quantileShownAtMost(primary.latencyBuckets, 0.99, settings.alpha / 4);
  if (!(candidateAbove > settings.maxLatencyRatio * primaryAtMost)) return undefined;
  return (
    `latency: ${names.candidate}'s p99 is above ${candidateAbove} ms, ${names.primary}'s at most ${primaryAtMost} ms (${confidence(settings.alpha / 2)}): ` +
    `more than maxLatencyRatio ${settings.maxLatencyRatio}× (${candidateSuccesses}/${primarySuccesses} successful requests)`
  );
}

/** Operational guardrails only (error-rate increase, p99 latency ratio): the reasons `candidate` fails them against `primary`, [] when it does not (or there is not yet enough to say). Used alone for a bandit's arms against the best arm. */
export function operationalFailures(names: Names, candidate: ArmEvidence, primary: ArmEvidence, settings: GuardrailSettings): string[] {
  return [errorRateFailure(names, candidate, primary, settings), latencyFailure(names, candidate, primary, settings)].filter(
    (reason): reason is string => reason !== undefined,
  );
}

function evidenceOf(
  names: Names,
  candidate: ArmEvidence,
  primary: ArmEvidence,
  bounds: DifferenceBounds | undefined,
  settings: GuardrailSettings,
): GuardrailEvidence {
  const both = <T>(of: (arm: ArmEvidence) => T): Record<string, T> => ({ [names.candidate]: of(candidate), [names.primary]: of(primary) });
  return {
    metric: settings.metric,
    n: both((arm) => arm.rewards.count),
    mean: both((arm) => mean(arm.rewards)),
    delta: bounds?.delta ?? null,
    low: bounds?.low ?? null,
    high: bounds?.high ?? null,
    ...(bounds?.paired && { paired: true as const }),
    alpha: settings.alpha,
    errorRate: both((arm) => (arm.requests > 0 ? arm.errors / arm.requests : NaN)),
    p99Ms: both((arm) => quantileFromBuckets(arm.latencyBuckets, 0.99)),
  };
}

/** The margin on the reward's scale: as declared, or in standard deviations of one reward pooled over both arms. */
function marginOnScale(candidate: ArmStats, primary: ArmStats, settings: GuardrailSettings): number {
  return settings.marginUnit === 'sd' ? settings.margin * Math.sqrt(pooledRewardVariance(candidate, primary)) : settings.margin;
}

/** The bounds the verdicts read (see `DifferenceBounds`); undefined while either arm has fewer than two rewards. */
function differenceBounds(candidate: ArmEvidence, primary: ArmEvidence, margin: number, settings: GuardrailSettings): DifferenceBounds | undefined {
  const [c, p] = [
    { stats: candidate.rewards, units: candidate.rewardUnits },
    { stats: primary.rewards, units: primary.rewardUnits },
  ];
  const options = { kind: settings.rewardKind };
  // What the two arms share on a request cancels in its paired difference (sequential.ts).
  const paired = candidate.paired && candidate.paired.count >= settings.minSamples ? candidate.paired : undefined;
  const same = paired ? pairedNullTest(paired, 0, settings.alpha) : nullTest(c, p, 0, settings.alpha, options);
  const atMargin = paired ? pairedNullTest(paired, -margin, settings.alpha) : nullTest(c, p, -margin, settings.alpha, options);
  if (!same || !atMargin) return undefined;
  return { delta: same.delta, low: same.delta - atMargin.halfWidth, high: same.delta + same.halfWidth, ...(paired && { paired: true as const }) };
}

/**
 * The verdict (docs/statistics.md, "The verdict") on candidate − primary: waiting (either arm below minSamples labelled pairs, or, unless the candidate already fails, below minSamples requests or successful requests), fail (high < 0, or an operational failure), pass (low > −margin and nothing failed), inconclusive (both arms reached maxSamples without a verdict), else continue.
 *
 * Operational failures are judged on requests, not labels, so they can fail a candidate
 * that is still `waiting` for labels (a model that only errs never gets one). Fail is
 * checked before pass: a candidate surely worse is rolled back even if only slightly.
 * Pass and fail are each one side of an always-valid test at level alpha, each under the
 * variance of its own null, so each errs with probability ≲ alpha/2 however often the
 * controller looks.
 */
export function judgeCandidate(names: Names, candidate: ArmEvidence, primary: ArmEvidence, settings: GuardrailSettings): GuardrailJudgement {
  const margin = marginOnScale(candidate.rewards, primary.rewards, settings);
  const bounds = differenceBounds(candidate, primary, margin, settings);
  const evidence = evidenceOf(names, candidate, primary, bounds, settings);
  const judged = (verdict: GuardrailVerdict, ...reasons: string[]): GuardrailJudgement => ({ verdict, reasons, evidence });
  const [nCandidate, nPrimary] = [candidate.rewards.count, primary.rewards.count];
  const after = `after ${nCandidate}/${nPrimary} labelled pairs`;
  const difference = `${settings.metric}: ${names.candidate} − ${names.primary}`;
  const marginText = settings.marginUnit === 'sd' ? `${fixed(margin)} (${settings.margin} sd)` : `${settings.margin}`;
  const surelyWorse = bounds && nCandidate >= settings.minSamples && nPrimary >= settings.minSamples && bounds.high < 0;
  const worse = bounds && `${difference} ≤ ${fixed(bounds.high)} (${confidence(settings.alpha)} ${interval(bounds)}) ${after}`;

  const operational = operationalFailures(names, candidate, primary, settings);
  if (operational.length) return judged('fail', ...operational, ...(surelyWorse ? [worse!] : []));
  if (!bounds || nCandidate < settings.minSamples || nPrimary < settings.minSamples) {
    return judged(
      'waiting',
      `waiting for minSamples ${settings.minSamples} labelled pairs per arm: ${names.candidate} has ${nCandidate}, ${names.primary} ${nPrimary}`,
    );
  }
  if (surelyWorse) return judged('fail', worse!);
  // A pass vouches for the error rate and latency too, so it needs them reported as well:
  // labels that arrive for requests counted before the step began, or a report behind the
  // rewards, must not let a candidate pass on guardrails that were never looked at.
  const unreported = [candidate, primary].some((arm) => arm.requests < settings.minSamples || successes(arm) < settings.minSamples);
  if (unreported) {
    return judged(
      'waiting',
      `waiting for minSamples ${settings.minSamples} requests and successful requests per arm (error rate, latency): ` +
        `${names.candidate} has ${candidate.requests} and ${successes(candidate)}, ${names.primary} ${primary.requests} and ${successes(primary)}`,
    );
  }
  if (bounds.low > -margin) {
    return judged('pass', `${difference} ≥ ${fixed(bounds.low)}, within margin −${marginText} (${confidence(settings.alpha)} ${interval(bounds)}) ${after}`);
  }
  const open = `${difference} = ${fixed(bounds.delta)}, ${confidence(settings.alpha)} ${interval(bounds)} neither below 0 nor above −${marginText}`;
  if (nCandidate >= settings.maxSamples && nPrimary >= settings.maxSamples) {
    return judged('inconclusive', `${open} ${after}, both arms at maxSamples ${settings.maxSamples}`);
  }
  return judged('continue', `${open} yet, ${after}`);
}
