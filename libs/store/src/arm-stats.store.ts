import { Injectable } from '@nestjs/common';
import { isValidName, Role } from '@switchyard/contracts';
import { type ArmStats, type RecordedArms, statsArm } from '@switchyard/strategies';
import { RedisClient } from './redis.client';
import { APPLY_REWARDS, RECONCILE_ARMS } from './reward-stats.scripts';

/** Event ids become Redis key parts: printable and bounded (the joiner's are UUIDs). */
export const EVENT_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** One joined reward to add to the statistics. */
export interface RewardRecord {
  eventId: string;
  deployment: string;
  variant: string;
  role: Role;
  specVersion: number;
  reward: number;
}

/** What became of each record of a batch, in order. */
export type RewardOutcome = 'applied' | 'duplicate' | 'stale';

const OUTCOMES: Record<string, RewardOutcome> = { '1': 'applied', '0': 'duplicate', '2': 'stale' };

/** Events per script call: bounds how long one call holds Redis. */
const APPLY_CHUNK = 500;

type RewardScripts = {
  applyRewards(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<string>;
  reconcileArms(stats: string, arms: string, version: number, tombstoneTtl: number, incarnation: string, ...variantSince: (string | number)[]): Promise<number>;
};

/**
 * Reward statistics per deployment and variant, one hash per deployment with fields
 * `<variant>:count|sum|sumSq` (served rewards: what bandits learn from) and
 * `<variant>:shadow:count|sum|sumSq` (shadow rewards, for the shadow report). The bandit
 * updater writes them, each joined event once; the router and the deployment report
 * read them. `parseStats` gives shadow arms as `<variant>:shadow`.
 */
@Injectable()
export class ArmStatsStore {
  private readonly redis: RedisClient['redis'] & RewardScripts;

  constructor(private readonly client: RedisClient) {
    client.redis.defineCommand('applyRewards', { lua: APPLY_REWARDS });
    client.redis.defineCommand('reconcileArms', { numberOfKeys: 2, lua: RECONCILE_ARMS });
    this.redis = client.redis as RedisClient['redis'] & RewardScripts;
  }

  key(deployment: string): string {
    if (!isValidName(deployment)) throw new Error(`invalid deployment name ${JSON.stringify(deployment)}`);
    return `${this.client.prefix}stats:${deployment}`;
  }

  /** The arms the statistics follow: variant → first spec version of its run, plus `_v`. */
  armsKey(deployment: string): string {
    if (!isValidName(deployment)) throw new Error(`invalid deployment name ${JSON.stringify(deployment)}`);
    return `${this.client.prefix}arms:${deployment}`;
  }

  appliedKey(eventId: string): string {
    if (!EVENT_ID_PATTERN.test(eventId)) throw new Error(`invalid eventId ${JSON.stringify(eventId)}`);
    return `${this.client.prefix}applied:${eventId}`;
  }

  /**
   * Adds a batch of rewards, each event id at most once while its claim lives
   * (`appliedTtlSeconds`): one pipelined round trip, each chunk one atomic script in
   * which every event's claim and its increments happen together.
   */
  async applyRewards(records: RewardRecord[], appliedTtlSeconds: number): Promise<RewardOutcome[]> {
    if (!records.length) return [];
    const pipeline = this.redis.pipeline() as unknown as RewardScripts & { exec: () => Promise<[Error | null, unknown][] | null> };
    for (let start = 0; start < records.length; start += APPLY_CHUNK) {
      const chunk = records.slice(start, start + APPLY_CHUNK);
      const keys = chunk.flatMap((r) => [this.appliedKey(r.eventId), this.key(r.deployment), this.armsKey(r.deployment)]);
      const args = chunk.flatMap((r) => {
        if (!isValidName(r.variant)) throw new Error(`invalid variant name ${JSON.stringify(r.variant)}`);
        if (!Number.isFinite(r.reward)) throw new Error(`reward must be finite, got ${r.reward}`);
        return [statsArm(r.variant, r.role), r.variant, r.specVersion, String(r.reward), String(r.reward * r.reward)];
      });
      void pipeline.applyRewards(keys.length, ...keys, appliedTtlSeconds, ...args);
    }
    const replies = await pipeline.exec();
    if (!replies) throw new Error('redis pipeline was aborted');
    const failed = replies.find(([error]) => error);
    if (failed) throw failed[0];
    return replies.flatMap(([, digits]) => [...String(digits)].map((digit) => OUTCOMES[digit]));
  }

  /**
   * The recorded arm set of a deployment (version 0 when none is, or when it was recorded
   * for another incarnation of the deployment).
   */
  async recordedArms(deployment: string, incarnation: string): Promise<RecordedArms> {
    const hash = await this.client.redis.hgetall(this.armsKey(deployment));
    if (hash._deleted || (hash._born !== undefined && hash._born !== incarnation)) return { version: 0, since: {} };
    const since = Object.fromEntries(Object.entries(hash).flatMap(([field, value]) => (field.startsWith('_') ? [] : [[field, Number(value)]])));
    return { version: Number(hash._v ?? 0), since };
  }

  /**
   * Makes the statistics follow a spec version's arms: removed arms (and arms whose run
   * restarted) lose their statistics, new ones start empty, the others are untouched.
   * `incarnation` tells a deployment deleted and created again from the one before (e.g.
   * when its version 1 was written). Answers the number of arms removed, or -1 when a
   * newer version is already recorded.
   */
  async reconcileArms(deployment: string, version: number, arms: Record<string, number>, incarnation: string, tombstoneTtlSeconds: number): Promise<number> {
    const pairs = Object.entries(arms).flatMap(([variant, since]) => {
      if (!isValidName(variant)) throw new Error(`invalid variant name ${JSON.stringify(variant)}`);
      return [variant, since];
    });
    return Number(await this.redis.reconcileArms(this.key(deployment), this.armsKey(deployment), version, tombstoneTtlSeconds, incarnation, ...pairs));
  }

  /** A deleted deployment: statistics gone, and late rewards for it not counted (a tombstone). */
  async forget(deployment: string, tombstoneTtlSeconds: number): Promise<void> {
    await this.redis.reconcileArms(this.key(deployment), this.armsKey(deployment), 0, tombstoneTtlSeconds, '');
  }

  /** Statistics of many deployments in one round trip; arms with no data are absent. */
  async readMany(deployments: string[]): Promise<Map<string, Record<string, ArmStats>>> {
    if (!deployments.length) return new Map();
    const replies = await this.client.redis.pipeline(deployments.map((name) => ['hgetall', this.key(name)])).exec();
    return new Map(deployments.map((name, i) => [name, parseStats((replies?.[i]?.[1] ?? {}) as Record<string, string>)]));
  }

  async read(deployment: string): Promise<Record<string, ArmStats>> {
    return (await this.readMany([deployment])).get(deployment)!;
  }
}

const STAT_FIELDS: string[] = ['count', 'sum', 'sumSq'];

/** The statistics per arm; a null-prototype object, so a variant named `constructor` or `__proto__` is an arm like any other. */
export function parseStats(hash: Record<string, string>): Record<string, ArmStats> {
  const arms: Record<string, ArmStats> = Object.create(null);
  for (const [field, value] of Object.entries(hash)) {
    const cut = field.lastIndexOf(':');
    const variant = field.slice(0, cut);
    const measure = field.slice(cut + 1) as keyof ArmStats;
    if (cut < 1 || !STAT_FIELDS.includes(measure as string)) continue;
    arms[variant] ??= { count: 0, sum: 0, sumSq: 0 };
    arms[variant][measure] = Number(value);
  }
  return arms;
}
