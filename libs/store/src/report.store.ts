import { Injectable } from '@nestjs/common';
import {
  DEFAULT_UNIT_COUNTING,
  FEEDBACK_OUTCOME_FIELDS,
  type RecentBucket,
  recentExpiresAt,
  type ReportedBatch,
  type UnitMemory,
} from '@switchyard/strategies';
import type { CheckpointedHash } from '@switchyard/contracts';
import { snapshotHashes } from './hash-snapshot';
import { NotedDeployments } from './noted-deployments';
import { RedisClient } from './redis.client';

/** Position fields start with `@`, which no counter field (`<variant>:<role>:…`) does. */
const POSITION = '@';

/** One deployment's share of a Kafka batch of predictions. */
export interface ReportBatch extends ReportedBatch {
  deployment: string;
  /** What its first copies add to the recent served buckets (`recentCounts`): `[bucket, variant, count]`. */
  recent?: [bucket: number, variant: string, count: number][];
}

/** What one batch or sweep adds to a deployment's feedback outcomes. */
export interface FeedbackOutcomeCounts {
  counts: Map<string, number>;
  lastMismatch?: string;
}

/** Adds one to `field` of `deployment`'s counts in `outcomes` (and records `mismatch` as its last). */
export function countFeedbackOutcome(outcomes: Map<string, FeedbackOutcomeCounts>, deployment: string, field: string, mismatch?: string): void {
  const entry = outcomes.get(deployment) ?? outcomes.set(deployment, { counts: new Map() }).get(deployment)!;
  entry.counts.set(field, (entry.counts.get(field) ?? 0) + 1);
  if (mismatch !== undefined) entry.lastMismatch = mismatch;
}

/**
 * The deployment report's counters, one hash per deployment (`{<deployment>}:report`)
 * with fields `<variant>:<role>:requests|errors|lat:<bucket>|compared|agree…` (and a
 * bandit's integer inverse-propensity sums `<arm>:served:ipw@<version>…`), and
 * `@<topic>:<partition>` → the last offset of a predictions topic-partition counted in
 * it. The feedback joiner adds to it as it first stores each prediction, and rebuilds it
 * from the prediction topics when Redis was lost; the router and controller read it.
 * `lua/add-report.lua` counts; `ReportLedger` of libs/strategies is its reference.
 *
 * The split check's distinct units per arm and split key (`<arm>:served:units@<key>`)
 * are counters of the report too; which units were counted is kept beside it, in
 * `{<deployment>}:units` (`UnitMemory`), written by the same script in the same step.
 *
 * Beside it, `{<deployment>}:served@<bucket>` per minute of serving (variant → requests
 * served), each expiring once no window of `recentBuckets` reads it (`recentExpiresAt`):
 * counted with the report's first copies, but outside its once-per-offset script, so a
 * joiner that dies between the two may count a batch's minute twice or not at all; what
 * reads them is a display, "served over the last minutes", that nothing decides on.
 */
@Injectable()
export class ReportStore {
  /** Every deployment with a report (`report:deployments`): what a checkpoint takes. */
  readonly deployments: NotedDeployments;

  constructor(private readonly client: RedisClient) {
    this.deployments = new NotedDeployments(client, 'report:deployments');
  }

  key(deployment: string): string {
    return this.client.deploymentKey(deployment, 'report');
  }

  /** The whole report, counters and positions, and the distinct units it counted, as they are at one instant: its checkpoint (kinds `report`, `units`). */
  snapshot(deployment: string): Promise<Record<string, CheckpointedHash>> {
    return snapshotHashes(this.client, deployment, ['report', 'units']);
  }

  /** A checkpointed `units` hash as the recount's memory of units counted, so a unit counted before the checkpoint is not counted again after it. */
  static parseUnits(hash: CheckpointedHash | undefined): UnitMemory {
    return new Map(Object.entries(hash?.fields ?? {}).flatMap(([field, value]) => (Number.isFinite(Number(value)) ? [[field, Number(value)] as const] : [])));
  }

  /** A checkpointed report's counters and its positions (`topic:partition` → last offset counted). */
  static parseSnapshot(hash: CheckpointedHash | undefined): { counters: Map<string, number>; positions: Map<string, bigint> } {
    const counters = new Map<string, number>();
    const positions = new Map<string, bigint>();
    for (const [field, value] of Object.entries(hash?.fields ?? {})) {
      if (field.startsWith(POSITION)) {
        if (/^\d{1,18}$/.test(value)) positions.set(field.slice(POSITION.length), BigInt(value));
      } else if (Number.isFinite(Number(value))) counters.set(field, Number(value));
    }
    return { counters, positions };
  }

  /** The distinct units counted (`UnitMemory`). */
  unitsKey(deployment: string): string {
    return this.client.deploymentKey(deployment, 'units');
  }

  /** The counters, without the positions. */
  async read(deployment: string): Promise<Record<string, string>> {
    const all = await this.client.redis.hgetall(this.key(deployment));
    return Object.fromEntries(Object.entries(all).filter(([field]) => !field.startsWith(POSITION)));
  }

  /** Counts a batch's first-seen predictions, once per offset (the calls pipelined by the connection); at most `maxUnitsPerKey` distinct units per split key. */
  async add(batches: ReportBatch[], maxUnitsPerKey = DEFAULT_UNIT_COUNTING.maxPerKey): Promise<void> {
    if (!batches.length) return;
    await this.deployments.note(batches.map((b) => b.deployment));
    const counting = batches.map((b) => {
      const counted = b.counted.flatMap(({ offset, fields, sums, units = [] }) => [
        offset,
        fields.length,
        ...fields,
        sums.length,
        ...sums.flat(),
        units.length,
        ...units.flatMap(({ key, member, field }) => [key, member, field]),
      ]);
      return this.client.redis.addReport(
        this.key(b.deployment),
        this.unitsKey(b.deployment),
        positionField(b.topic, b.partition),
        b.lastOffset,
        maxUnitsPerKey,
        ...counted,
      );
    });
    const recent = batches.flatMap((b) =>
      (b.recent ?? []).flatMap(([bucket, variant, count]) => {
        const key = this.recentKey(b.deployment, bucket);
        return [this.client.redis.hincrby(key, variant, count), this.client.redis.expireat(key, recentExpiresAt(bucket))];
      }),
    );
    await Promise.all<unknown>([...counting, ...recent]);
  }

  /** The hash of the deployment's feedback that gave no reward (`FEEDBACK_OUTCOME_FIELDS`); not rebuilt with the report. */
  feedbackKey(deployment: string): string {
    return this.client.deploymentKey(deployment, 'feedback');
  }

  async readFeedbackOutcomes(deployment: string): Promise<Record<string, string>> {
    return this.client.redis.hgetall(this.feedbackKey(deployment));
  }

  /** Adds `counts` (field → n) to deployments' feedback outcomes, each with the last label mismatch seen (the calls pipelined by the connection). */
  async addFeedbackOutcomes(outcomes: Map<string, FeedbackOutcomeCounts>): Promise<void> {
    await Promise.all(
      [...outcomes].flatMap(([deployment, { counts, lastMismatch }]) => {
        const key = this.feedbackKey(deployment);
        return [
          ...[...counts].map(([field, n]) => this.client.redis.hincrby(key, field, n)),
          ...(lastMismatch === undefined ? [] : [this.client.redis.hset(key, FEEDBACK_OUTCOME_FIELDS.lastMismatch, lastMismatch)]),
        ];
      }),
    );
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
   * Forgets which units were counted under these split keys (the split check reads only the
   * key served now; a key left behind never comes back): what keeps `{<deployment>}:units`
   * bounded. The counts stay in the report.
   */
  async forgetUnits(deployment: string, keys: readonly string[]): Promise<void> {
    const units = this.unitsKey(deployment);
    for (const key of keys) {
      let cursor = '0';
      do {
        // HSCAN pages, so a large hash does not hold Redis.
        const [next, entries] = await this.client.redis.hscan(units, cursor, 'MATCH', `${key}\n*`, 'COUNT', 1000);
        const fields = entries.filter((_, i) => i % 2 === 0);
        if (fields.length) await this.client.redis.hdel(units, ...fields);
        cursor = next;
      } while (cursor !== '0');
      await this.client.redis.hdel(units, `#${key}`);
    }
  }

  /**
   * Replaces a deployment's report with a recount, and the distinct units with the
   * recount's (`units`): `positions` are the last offsets the recount covered, so later
   * additions count only what follows.
   */
  async replace(
    deployment: string,
    counters: Map<string, number>,
    positions: { topic: string; partition: number; offset: string }[],
    units: UnitMemory = new Map(),
  ): Promise<void> {
    const pairs: (string | number)[] = [...counters].flat();
    for (const { topic, partition, offset } of positions) pairs.push(positionField(topic, partition), offset);
    await this.client.redis.replaceReport(this.key(deployment), this.unitsKey(deployment), pairs.length / 2, ...pairs, ...[...units].flat());
    await this.deployments.note([deployment]);
  }
}

function positionField(topic: string, partition: number): string {
  return `${POSITION}${topic}:${partition}`;
}
