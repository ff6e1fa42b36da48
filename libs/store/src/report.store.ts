import { Injectable } from '@nestjs/common';
import { type RecentBucket, recentExpiresAt, type ReportedBatch } from '@switchyard/strategies';
import { RedisClient } from './redis.client';

/** Position fields start with `@`, which no counter field (`<variant>:<role>:…`) does. */
const POSITION = '@';

/** One deployment's share of a Kafka batch of predictions. */
export interface ReportBatch extends ReportedBatch {
  deployment: string;
  /** What its first copies add to the recent served buckets (`recentCounts`): `[bucket, variant, count]`. */
  recent?: [bucket: number, variant: string, count: number][];
}

/**
 * The deployment report's counters, one hash per deployment (`{<deployment>}:report`)
 * with fields `<variant>:<role>:requests|errors|lat:<bucket>|compared|agree…` (and a
 * bandit's integer inverse-propensity sums `<arm>:served:ipw@<version>…`), and
 * `@<topic>:<partition>` → the last offset of a predictions topic-partition counted in
 * it. The feedback joiner adds to it as it first stores each prediction, and rebuilds it
 * from the prediction topics when Redis was lost; the router and controller read it.
 * `lua/add-report.lua` counts; `ReportLedger` of libs/strategies is its reference.
 * Beside it, `{<deployment>}:served@<bucket>` per minute of serving (variant → requests
 * served), each expiring once no window of `recentBuckets` reads it (`recentExpiresAt`):
 * counted with the report's first copies, but outside its once-per-offset script, so a
 * joiner that dies between the two may count a batch's minute twice or not at all; what
 * reads them is a display, "served over the last minutes", that nothing decides on.
 */
@Injectable()
export class ReportStore {
  constructor(private readonly client: RedisClient) {}

  key(deployment: string): string {
    return this.client.deploymentKey(deployment, 'report');
  }

  /** The counters, without the positions. */
  async read(deployment: string): Promise<Record<string, string>> {
    const all = await this.client.redis.hgetall(this.key(deployment));
    return Object.fromEntries(Object.entries(all).filter(([field]) => !field.startsWith(POSITION)));
  }

  /** Counts a batch's first-seen predictions, once per offset (the calls pipelined by the connection). */
  async add(batches: ReportBatch[]): Promise<void> {
    if (!batches.length) return;
    const counting = batches.map((b) => {
      const counted = b.counted.flatMap(({ offset, fields, sums }) => [offset, fields.length, ...fields, sums.length, ...sums.flat()]);
      return this.client.redis.addReport(this.key(b.deployment), positionField(b.topic, b.partition), b.lastOffset, ...counted);
    });
    const recent = batches.flatMap((b) =>
      (b.recent ?? []).flatMap(([bucket, variant, count]) => {
        const key = this.recentKey(b.deployment, bucket);
        return [this.client.redis.hincrby(key, variant, count), this.client.redis.expireat(key, recentExpiresAt(bucket))];
      }),
    );
    await Promise.all<unknown>([...counting, ...recent]);
  }

  recentKey(deployment: string, bucket: number): string {
    return this.client.deploymentKey(deployment, `served@${bucket}`);
  }

  /** The recent served buckets `buckets` (`recentBuckets`), each variant → requests; a bucket not counted (or expired) is empty. */
  async readRecent(deployment: string, buckets: readonly number[]): Promise<RecentBucket[]> {
    const all = await Promise.all(buckets.map((bucket) => this.client.redis.hgetall(this.recentKey(deployment, bucket))));
    return all.map((fields) => Object.fromEntries(Object.entries(fields).map(([variant, n]) => [variant, Number(n)])));
  }

  /**
   * Replaces a deployment's report with a recount: `positions` are the last offsets the
   * recount covered, so later additions count only what follows.
   */
  async replace(deployment: string, counters: Map<string, number>, positions: { topic: string; partition: number; offset: string }[]): Promise<void> {
    const pairs: (string | number)[] = [...counters].flat();
    for (const { topic, partition, offset } of positions) pairs.push(positionField(topic, partition), offset);
    await this.client.redis.replaceReport(this.key(deployment), ...pairs);
  }
}

function positionField(topic: string, partition: number): string {
  return `${POSITION}${topic}:${partition}`;
}
