import type { Role, StrategyType } from '@switchyard/contracts';
import { ArmStats, meanConfidenceInterval } from './arm-stats';
import { unitSampled } from './srm';

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
  /** The spec version it was served under: served requests are also counted per version (and plan step), for the split check. */
  specVersion?: number;
  /** The plan step it was served under, past the first (`PredictionEvent.step`). */
  step?: number;
  /** The strategy it was served under; a bandit's (or a plan's) served requests also add to the propensity sums. */
  strategy?: StrategyType;
  /** The logged propensity of the variant chosen (`fallbackFrom ?? variant`). */
  probability?: number;
  /** The request's id: a request without a unit key is a unit of its own, sampled by it. */
  requestId?: string;
  /** The unit the split assigned (`unitKey`): what the split check counts, once per unit. */
  unitKey?: string;
}

/**
 * What served requests are counted under for the split check: the spec version, and a
 * plan's step past its first (`<version>.<step>`), since a step writes no version.
 */
export function splitKey(specVersion: number, step?: number): string {
  return step === undefined ? String(specVersion) : `${specVersion}.${step}`;
}

/** Counter fields one prediction adds to its deployment's report: `<variant>:<role>:<measure>`. */
export function reportFields(prediction: ReportedPrediction): string[] {
  const base = `${prediction.variant}:${prediction.role}`;
  const fields = [`${base}:requests`];
  if (prediction.error !== undefined) fields.push(`${base}:errors`);
  else fields.push(`${base}:lat:${latencyBucket(prediction.latencyMs)}`);
  // The chosen arm's failure, though another variant answered: what its error-rate guardrail must see.
  if (prediction.fallbackFrom !== undefined) fields.push(`${prediction.fallbackFrom}:${prediction.role}:fallbacks`);
  // Per spec version and plan step, so a sample-ratio check sees only requests served under
  // the split it checks, however late the joiner counts the requests of the one before.
  if (prediction.role === 'served' && prediction.specVersion !== undefined) {
    const key = splitKey(prediction.specVersion, prediction.step);
    fields.push(`${base}:requests@${key}`);
    if (prediction.fallbackFrom !== undefined) fields.push(`${prediction.fallbackFrom}:served:fallbacks@${key}`);
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

/**
 * A distinct unit one served prediction may add to the split check's count: 1 to `field`
 * (`<arm>:served:units@<splitKey>`, the arm the split chose) if `member` (its unit key) is
 * new under `key` and fewer than the cap were counted under it; '' for a request without a
 * unit key, a unit of its own that is always new.
 */
export interface UnitCount {
  key: string;
  member: string;
  field: string;
}

/** What one prediction adds to its deployment's report: 1 to each of `fields`, to each of `sums` its integer amount, and its distinct unit. */
export interface ReportCounts {
  fields: string[];
  sums: [field: string, amount: number][];
  units?: UnitCount[];
}

/**
 * The distinct units a report counted, as `{<deployment>}:units` holds them (`add-report.lua`):
 * `<splitKey>\n<unitKey>` → 1 for each unit counted, `#<splitKey>` → how many units
 * (and requests without one) were counted under the key.
 */
export type UnitMemory = Map<string, number>;

/**
 * How the split check's distinct units are counted: a deterministic 1 in `sampleEvery`
 * of the units (`unitSampled`, the same answer in every process), and at most `maxPerKey`
 * per split key (all arms together, so the cap stops the count without favouring an arm:
 * the units counted are the first ones sampled, in the shares the split gave them).
 */
export interface UnitCounting {
  sampleEvery: number;
  maxPerKey: number;
}

export const DEFAULT_UNIT_COUNTING: UnitCounting = { sampleEvery: 1, maxPerKey: 100_000 };

/**
 * The one place that decides what a prediction adds to the report, used by the joiner as
 * it counts and when it recounts after Redis lost the report: `reportFields`, plus for a
 * bandit's (or a plan's) served request, under the arm the strategy chose (`fallbackFrom
 * ?? variant`, whose propensity `probability` is) and its spec version, 1/p (`ipw`) and
 * 1/p² (`ipwSq`), the sums of the bandit's sample-ratio check.
 */
export function reportCounts(prediction: ReportedPrediction, counting: UnitCounting = DEFAULT_UNIT_COUNTING): ReportCounts {
  const fields = reportFields(prediction);
  const units = unitCounts(prediction, counting.sampleEvery);
  const { role, specVersion, strategy, probability } = prediction;
  if (role !== 'served' || specVersion === undefined || probability === undefined || (strategy !== 'bandit' && strategy !== 'plan')) {
    return { fields, sums: [], ...(units && { units }) };
  }
  const base = `${prediction.fallbackFrom ?? prediction.variant}:served`;
  const key = splitKey(specVersion, prediction.step);
  if (!(probability >= MIN_WEIGHED_PROPENSITY)) return { fields, sums: [[`${base}:ipwSkipped@${key}`, 1]], ...(units && { units }) };
  return {
    fields,
    sums: [
      [`${base}:ipw@${key}`, Math.round(IPW_UNITS / probability)],
      [`${base}:ipwSq@${key}`, Math.round(IPW_SQ_UNITS / (probability * probability))],
    ],
    ...(units && { units }),
  };
}

/**
 * A served prediction's unit for the split check, under the arm the split chose
 * (`fallbackFrom ?? variant`: a canary unit the primary answered for is still the
 * canary's) and its `splitKey`, when its unit (or, without one, its request id) is in the
 * 1-in-`sampleEvery` subsample. Only where a split assigns units: a canary, or a plan
 * (whose canary steps do); without a request id or spec version there is nothing to count.
 */
function unitCounts(prediction: ReportedPrediction, sampleEvery: number): UnitCount[] | undefined {
  const { role, specVersion, unitKey, requestId, strategy } = prediction;
  const id = unitKey ?? requestId;
  if (role !== 'served' || (strategy !== 'canary' && strategy !== 'plan') || specVersion === undefined || id === undefined) return undefined;
  if (!unitSampled(id, sampleEvery)) return undefined;
  const key = splitKey(specVersion, prediction.step);
  return [{ key, member: unitKey ?? '', field: `${prediction.fallbackFrom ?? prediction.variant}:served:units@${key}` }];
}

/**
 * Adds what one prediction adds (`reportCounts`) to a recount of the report's counters: the
 * rebuild's side of the live count (`ReportLedger`, `add-report.lua`). `memory` is the
 * recount's own memory of the distinct units counted so far (one per deployment, shared
 * by every call of the recount), `maxPerKey` the cap.
 */
export function addReportCounts(
  counters: Map<string, number>,
  { fields, sums, units = [] }: ReportCounts,
  memory: UnitMemory,
  maxPerKey = DEFAULT_UNIT_COUNTING.maxPerKey,
): void {
  for (const field of fields) counters.set(field, (counters.get(field) ?? 0) + 1);
  for (const [field, amount] of sums) counters.set(field, (counters.get(field) ?? 0) + amount);
  for (const { key, member, field } of units) {
    const total = `#${key}`;
    if ((memory.get(total) ?? 0) >= maxPerKey) continue;
    if (member !== '') {
      const seen = `${key}\n${member}`;
      if (memory.has(seen)) continue;
      memory.set(seen, 1);
    }
    memory.set(total, (memory.get(total) ?? 0) + 1);
    counters.set(field, (counters.get(field) ?? 0) + 1);
  }
}

/** The split keys a report counted distinct units under (`<arm>:served:units@<key>`). */
export function unitCountKeys(counters: Record<string, string | number>): string[] {
  const keys = new Set<string>();
  for (const field of Object.keys(counters)) {
    const match = /:served:units@([0-9.]+)$/.exec(field);
    if (match) keys.add(match[1]);
  }
  return [...keys];
}

/** One arm's inverse-propensity sums under one spec version (S = Σ 1/p, Q = Σ 1/p² over the requests it was chosen for). */
export interface PropensitySums {
  sum: number;
  sumSq: number;
  /** Requests chosen with a propensity below MIN_WEIGHED_PROPENSITY, in neither sum. */
  skipped: number;
}

/** An arm's propensity sums under one `splitKey`, from its counter measures (`groupCounters`). */
export function propensitySums(measures: Map<string, number>, key: string | number | undefined): PropensitySums {
  return {
    sum: (measures.get(`ipw@${key}`) ?? 0) / IPW_UNITS,
    sumSq: (measures.get(`ipwSq@${key}`) ?? 0) / IPW_SQ_UNITS,
    skipped: measures.get(`ipwSkipped@${key}`) ?? 0,
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
