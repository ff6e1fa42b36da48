import type { DeploymentSpec, Role } from '@switchyard/contracts';

/**
 * "Served over the last minutes", beside "served since rev N" (`servedSplit`): the requests
 * each variant answered, counted per minute of serving (by the prediction's `occurredAt`)
 * in small keys that expire once no window reads them, so what is kept per deployment is
 * bounded (`RECENT_MINUTES` buckets of one field per variant) whatever its traffic and
 * age. Minute buckets, as the cohort buckets of the rewards (`COHORT_BUCKET_SECONDS`) but
 * finer: a window of minutes needs them so.
 */
export const RECENT_BUCKET_SECONDS = 60;
export const RECENT_MINUTES = 5;

/** The served requests of one bucket: variant → count. */
export type RecentBucket = Record<string, number>;

export interface RecentServed {
  minutes: number;
  shares: Record<string, number>;
  requests: number;
}

/** The bucket (its start, epoch seconds) of a request served at `occurredAt`. */
export function recentBucket(occurredAt: string | number): number {
  const ms = typeof occurredAt === 'number' ? occurredAt : Date.parse(occurredAt);
  return Math.floor(ms / 1000 / RECENT_BUCKET_SECONDS) * RECENT_BUCKET_SECONDS;
}

/** The buckets the window at `now` reads, newest first: the current one and those before it, `RECENT_MINUTES` minutes in all. */
export function recentBuckets(now: Date): number[] {
  const newest = recentBucket(now.getTime());
  return Array.from({ length: (RECENT_MINUTES * 60) / RECENT_BUCKET_SECONDS }, (_, i) => newest - i * RECENT_BUCKET_SECONDS);
}

/** When a bucket's key may go (epoch seconds): once no window reads it, a bucket later for a joiner that lags. */
export function recentExpiresAt(bucket: number): number {
  return bucket + RECENT_MINUTES * 60 + RECENT_BUCKET_SECONDS;
}

/**
 * What a batch of predictions adds to the recent buckets: each served request (the variant
 * that answered, as `requests@<splitKey>` counts it; mirrored shadow calls are not served),
 * `[bucket, variant, count]`.
 */
export function recentCounts(predictions: readonly { role: Role; variant: string; occurredAt: string }[]): [bucket: number, variant: string, count: number][] {
  const counts = new Map<string, [number, string, number]>();
  for (const { role, variant, occurredAt } of predictions) {
    if (role !== 'served') continue;
    const bucket = recentBucket(occurredAt);
    if (!Number.isFinite(bucket)) continue;
    const key = `${bucket} ${variant}`;
    const entry = counts.get(key) ?? [bucket, variant, 0];
    entry[2]++;
    counts.set(key, entry);
  }
  return [...counts.values()];
}

/** The shares each variant of `spec` answered over the window's `buckets` (`recentBuckets`); `null` with no request in it. */
export function recentServed(spec: DeploymentSpec, buckets: readonly RecentBucket[]): RecentServed | null {
  const answered: Record<string, number> = Object.fromEntries(spec.variants.map(({ name }) => [name, 0]));
  for (const bucket of buckets) for (const [variant, n] of Object.entries(bucket)) if (Object.hasOwn(answered, variant)) answered[variant] += n;
  const requests = Object.values(answered).reduce((sum, n) => sum + n, 0);
  if (!requests) return null;
  return { minutes: RECENT_MINUTES, shares: Object.fromEntries(Object.entries(answered).map(([name, n]) => [name, n / requests])), requests };
}
