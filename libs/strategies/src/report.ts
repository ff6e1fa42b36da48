import type { Role, StrategyType } from '@switchyard/contracts';
import { ArmStats, meanConfidenceInterval } from './arm-stats';

/** Upper bounds (ms) of the latency buckets the deployment report counts in. */
export const LATENCY_BUCKETS_MS: readonly number[] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, Infinity];

export function latencyBucket(ms: number): number {
  return LATENCY_BUCKETS_MS.findIndex((bound) => ms <= bound);
}

export interface ReportedPrediction {
  variant: string;
  role: Role;
  latencyMs: number;
  error?: string;
  agreesWithPrimary?: boolean;
  /** The variant chosen first, which failed, when `variant` answered in its place. */
  fallbackFrom?: string;
  /** The spec version it was served under: served requests are also counted per version, for the split check. */
  specVersion?: number;
  /** The strategy it was served under; a bandit's (or a plan's) served requests also add to the propensity sums. */
  strategy?: StrategyType;
  /** The logged propensity of the variant chosen (`fallbackFrom ?? variant`). */
  probability?: number;
}

/** Counter fields one prediction adds to its deployment's report: `<variant>:<role>:<measure>`. */
export function reportFields(prediction: ReportedPrediction): string[] {
  const base = `${prediction.variant}:${prediction.role}`;
  const fields = [`${base}:requests`];
  if (prediction.error !== undefined) fields.push(`${base}:errors`);
  else fields.push(`${base}:lat:${latencyBucket(prediction.latencyMs)}`);
  // The chosen arm's failure, though another variant answered: what its error-rate guardrail must see.
  if (prediction.fallbackFrom !== undefined) fields.push(`${prediction.fallbackFrom}:${prediction.role}:fallbacks`);
  // Per spec version, so a sample-ratio check sees only requests served under the split it
  // checks, however late the joiner counts the requests of the version before.
  if (prediction.role === 'served' && prediction.specVersion !== undefined) {
    fields.push(`${base}:requests@${prediction.specVersion}`);
    if (prediction.fallbackFrom !== undefined) fields.push(`${prediction.fallbackFrom}:served:fallbacks@${prediction.specVersion}`);
  }
  if (prediction.agreesWithPrimary !== undefined) {
    fields.push(`${base}:compared`);
    if (prediction.agreesWithPrimary) fields.push(`${base}:agree`);
  }
  return fields;
}

/**
 * The inverse-propensity sums of a bandit's sample-ratio check (`propensityMismatch` in
 * srm.ts) are kept as integers: Σ 1/p in millionths, Σ 1/p² in thousandths, each term
 * rounded on its own. Integer addition is exact and does not depend on order, so the
 * joiner's live path (batches of interleaved partitions, added by HINCRBY in Redis) and
 * its rebuild (the topic re-read and summed in JavaScript) give bit-identical counters,
 * as they do for the +1 counters; floats (HINCRBYFLOAT) would differ in the last digits
 * with the order of additions, and Redis formats them as long doubles. Rounding costs at
 * most 5·10⁻⁷ per term of S (5·10⁻⁴ of Q, which only enters the variance), far below
 * the √N the check resolves. Below MIN_WEIGHED_PROPENSITY a term (up to 10⁹ units) could,
 * summed, leave the range both sides add exactly (2⁵³ in JavaScript, 2⁶³ in Redis, whose
 * HINCRBY fails on overflow and would fail the joiner's batch): such a request is only
 * counted as `ipwSkipped`, and the check is not run on a version that has one.
 */
export const IPW_UNITS = 1e6;
export const IPW_SQ_UNITS = 1e3;
export const MIN_WEIGHED_PROPENSITY = 1e-3;

/** What one prediction adds to its deployment's report: 1 to each of `fields`, and to each of `sums` its integer amount. */
export interface ReportCounts {
  fields: string[];
  sums: [field: string, amount: number][];
}

/**
 * The one place that decides what a prediction adds to the report, used by the joiner as
 * it counts and when it recounts after Redis lost the report: `reportFields`, plus for a
 * bandit's (or a plan's) served request, under the arm the strategy chose (`fallbackFrom
 * ?? variant`, whose propensity `probability` is) and its spec version, 1/p (`ipw`) and
 * 1/p² (`ipwSq`), the sums of the bandit's sample-ratio check.
 */
export function reportCounts(prediction: ReportedPrediction): ReportCounts {
  const fields = reportFields(prediction);
  const { role, specVersion, strategy, probability } = prediction;
  if (role !== 'served' || specVersion === undefined || probability === undefined || (strategy !== 'bandit' && strategy !== 'plan')) {
    return { fields, sums: [] };
  }
  const base = `${prediction.fallbackFrom ?? prediction.variant}:served`;
  if (!(probability >= MIN_WEIGHED_PROPENSITY)) return { fields, sums: [[`${base}:ipwSkipped@${specVersion}`, 1]] };
  return {
    fields,
    sums: [
      [`${base}:ipw@${specVersion}`, Math.round(IPW_UNITS / probability)],
      [`${base}:ipwSq@${specVersion}`, Math.round(IPW_SQ_UNITS / (probability * probability))],
    ],
  };
}

/** Adds what one prediction adds (`reportCounts`) to a recount of the report's counters: the rebuild's side of the live count (`ReportLedger`, `add-report.lua`). */
export function addReportCounts(counters: Map<string, number>, { fields, sums }: ReportCounts): void {
  for (const field of fields) counters.set(field, (counters.get(field) ?? 0) + 1);
  for (const [field, amount] of sums) counters.set(field, (counters.get(field) ?? 0) + amount);
}

/** One arm's inverse-propensity sums under one spec version (S = Σ 1/p, Q = Σ 1/p² over the requests it was chosen for). */
export interface PropensitySums {
  sum: number;
  sumSq: number;
  /** Requests chosen with a propensity below MIN_WEIGHED_PROPENSITY, in neither sum. */
  skipped: number;
}

/** An arm's propensity sums under `specVersion`, from its counter measures (`groupCounters`). */
export function propensitySums(measures: Map<string, number>, specVersion: number | undefined): PropensitySums {
  return {
    sum: (measures.get(`ipw@${specVersion}`) ?? 0) / IPW_UNITS,
    sumSq: (measures.get(`ipwSq@${specVersion}`) ?? 0) / IPW_SQ_UNITS,
    skipped: measures.get(`ipwSkipped@${specVersion}`) ?? 0,
  };
}

export interface VariantReport {
  requests: number;
  errors: number;
  /** Upper bound of the bucket holding the quantile; `null` before any success. */
  latencyMs: { p50: number | null; p95: number | null };
  /** Shadows: share of answers equal to the primary's. */
  agreement?: { rate: number; compared: number };
  /** Once labels join: mean reward with a 95% confidence interval. */
  reward?: { count: number; mean: number; low?: number; high?: number };
}

/** The bucket bound below which a share `q` of the counted latencies fall. */
export function quantileFromBuckets(counts: readonly number[], q: number): number | null {
  const total = counts.reduce((sum, count) => sum + count, 0);
  if (!total) return null;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen >= q * total) return LATENCY_BUCKETS_MS[i];
  }
  return LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1];
}

export interface CounterGroup {
  variant: string;
  role: Role;
  measures: Map<string, number>;
}

/** The report's counter fields grouped by variant and role (`<variant>:<role>` → measure → count). */
export function groupCounters(counters: Record<string, string | number>): Map<string, CounterGroup> {
  const grouped = new Map<string, CounterGroup>();
  for (const [field, value] of Object.entries(counters)) {
    const match = /^(.+):(served|shadow):(.+)$/.exec(field);
    if (!match) continue;
    const key = `${match[1]}:${match[2]}`;
    const group = grouped.get(key) ?? grouped.set(key, { variant: match[1], role: match[2] as Role, measures: new Map() }).get(key)!;
    group.measures.set(match[3], Number(value));
  }
  return grouped;
}

/** Counts per latency bucket of `LATENCY_BUCKETS_MS`. */
export function latencyBuckets(measures: Map<string, number>): number[] {
  return LATENCY_BUCKETS_MS.map((_, i) => measures.get(`lat:${i}`) ?? 0);
}

/** Builds the per-variant, per-role report from the counters hash and the reward statistics. */
export function buildReport(
  counters: Record<string, string | number>,
  rewards: Record<string, ArmStats | undefined> = {},
): Record<string, Partial<Record<Role, VariantReport>>> {
  // Null prototypes: a variant named `constructor` or `__proto__` is a key like any other, never Object's own.
  const report: Record<string, Partial<Record<Role, VariantReport>>> = Object.create(null);
  for (const { variant, role, measures } of groupCounters(counters).values()) {
    const buckets = latencyBuckets(measures);
    const compared = measures.get('compared') ?? 0;
    const rewardArm = role === 'served' ? variant : `${variant}:shadow`;
    const stats = Object.hasOwn(rewards, rewardArm) ? rewards[rewardArm] : undefined;
    const interval = stats && stats.count ? meanConfidenceInterval(stats) : undefined;
    (report[variant] ??= Object.create(null) as Partial<Record<Role, VariantReport>>)[role] = {
      requests: measures.get('requests') ?? 0,
      errors: measures.get('errors') ?? 0,
      latencyMs: { p50: quantileFromBuckets(buckets, 0.5), p95: quantileFromBuckets(buckets, 0.95) },
      ...(compared && { agreement: { rate: (measures.get('agree') ?? 0) / compared, compared } }),
      ...(stats &&
        stats.count && {
          reward: { count: stats.count, mean: stats.sum / stats.count, ...(interval && { low: interval.low, high: interval.high }) },
        }),
    };
  }
  return report;
}
