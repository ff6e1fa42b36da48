import type { Role } from '@switchyard/contracts';
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
