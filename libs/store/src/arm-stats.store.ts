import { Injectable } from '@nestjs/common';
import { type CheckpointedHash, isValidName } from '@switchyard/contracts';
import {
  type ArmStats,
  cellArm,
  type CohortCell,
  type LedgerReward,
  type PairClock,
  parseCohortArm,
  type RewardOutcome,
  statsArm,
  type UnitSums,
} from '@switchyard/strategies';
import { restoreHashes, snapshotHashes } from './hash-snapshot';
import { NotedDeployments } from './noted-deployments';
import { RedisClient } from './redis.client';

/** One joined reward to add to the statistics, from the partition the batch came from. */
export interface RewardRecord extends LedgerReward {
  deployment: string;
}

/**
 * Every hash a deployment's statistics keep (`deploymentKey(deployment, kind)`, one slot):
 * what a checkpoint of the statistics holds and a restore writes back. Statistics kept in
 * a further hash of the deployment join this list to ride on the checkpoints.
 */
export const STATISTICS_KINDS = [
  'stats',
  'arms',
  'positions',
  'cohorts',
  'cohort-arms',
  'cohort-positions',
  // Each unit's rewards so far: without them a restored cohort would count a returning unit as new.
  'cohort-units',
  // Rewards waiting for the other half of their request: without them a restore loses those pairs.
  'cohort-held-0',
  'cohort-held-1',
  'ridge',
  'ridge-arms',
  'ridge-positions',
] as const;

const OUTCOMES: Record<string, RewardOutcome> = { '1': 'applied', '0': 'duplicate', '2': 'stale' };

/** Events per script call: bounds how long one call holds Redis. */
const APPLY_CHUNK = 500;

/**
 * The indices of `records` per deployment, in their order, cut into chunks of at most
 * `size`: one script call each, touching that deployment's keys only (one Cluster slot).
 */
export function chunksByDeployment(records: readonly { deployment: string }[], size: number): Map<string, number[][]> {
  const chunks = new Map<string, number[][]>();
  records.forEach((record, i) => {
    const own = chunks.get(record.deployment) ?? chunks.set(record.deployment, [[]]).get(record.deployment)!;
    if (own[own.length - 1].length === size) own.push([]);
    own[own.length - 1].push(i);
  });
  return chunks;
}

/**
 * Reward statistics per deployment and variant, one hash per deployment with fields
 * `<variant>:count|sum|sumSq` (served rewards: what bandits learn from) and
 * `<variant>:shadow:count|sum|sumSq` (shadow rewards, for the shadow report). The bandit
 * updater writes them, each joined event once (per-partition positions beside them); the
 * router and the deployment report read them. `parseStats` gives shadow arms as
 * `<variant>:shadow`.
 *
 * Beside the statistics, under the same hash tag (one Cluster slot per deployment):
 *   `{<deployment>}:arms`      — the arms the statistics are kept for: `<variant>` → the
 *                                first spec version of its current run (`since`), `_v` →
 *                                the spec version this set reflects, `_born` its
 *                                incarnation, `_deleted` on a deleted deployment;
 *   `{<deployment>}:positions` — joined-topic partition → offset of the last event of this
 *                                deployment the statistics have taken in from it.
 * Variant names never contain ':' nor start with '_', so no two fields collide. The
 * scripts (`lua/apply-rewards.lua`, `lua/reconcile-arms.lua`) implement `RewardLedger` of
 * libs/strategies, the rules' reference.
 *
 * The same rewards by the step that served them (what the rollout controller judges a
 * step on), fields `<cohortArm>:count|sum|sumSq`, are a second ledger run by the same
 * scripts over keys of their own: `{<deployment>}:cohorts`, `:cohort-arms` (the same arm
 * set) and `:cohort-positions`. Kept apart from the totals so the router and the bandit
 * read a hash that does not grow with every step and slot of time. Each ledger is
 * exactly-once on its own; the cohort call runs after the totals' and starts its position
 * wherever the totals have one, so after a crash between the two it catches up on the
 * redelivered batch, never ahead of the totals.
 *
 * Each cohort cell also keeps its share of the per-unit sums of its arm and split key
 * (`<cohortArm>:units|unitCountSq|unitSumSq|unitCountSum`, cluster.ts), what the
 * controller clusters the reward variance by; `{<deployment>}:cohort-units` holds each
 * unit's rewards so far (`<arm>:@<splitKey>\n<unitKey>` → `<n> <S>`), which the next
 * reward's increments depend on. A request's paired difference (`pairRewards`) goes to a
 * paired cell of the same hash, `<shadow>:paired:@<splitKey>:<from>-<before>` in its served
 * half's slot, read and pruned as the others. The controller deletes the cells it can no
 * longer judge, and the unit states of split keys it left (`pruneCohorts`).
 *
 * A contextual bandit's ridge sums (`ridgeIncrement`, fields `<variant>:<model>:<i>`) are a
 * third ledger on the same terms (`lua/apply-ridge.lua`): `{<deployment>}:ridge`,
 * `:ridge-arms`, `:ridge-positions`, reconciled with the others (their reconcile also drops removed arms' unit states, idempotently).
 */
@Injectable()
export class ArmStatsStore {
  /** Every deployment the statistics were applied to (`statistics:deployments`): what a checkpoint takes. */
  readonly deployments: NotedDeployments;

  constructor(private readonly client: RedisClient) {
    this.deployments = new NotedDeployments(client, 'statistics:deployments');
  }

  key(deployment: string): string {
    return this.client.deploymentKey(deployment, 'stats');
  }

  /** The arms the statistics follow: variant → first spec version of its run, plus `_v`. */
  armsKey(deployment: string): string {
    return this.client.deploymentKey(deployment, 'arms');
  }

  /** Joined-topic partition → offset of the deployment's last event taken in from it. */
  positionsKey(deployment: string): string {
    return this.client.deploymentKey(deployment, 'positions');
  }

  /** The cohort ledger's keys: statistics by `cohortArm`, its arm set, its positions. */
  cohortKeys(deployment: string): [stats: string, arms: string, positions: string] {
    return ['cohorts', 'cohort-arms', 'cohort-positions'].map((what) => this.client.deploymentKey(deployment, what)) as [string, string, string];
  }

  /** Each unit's rewards so far per arm and split key, for the cohort cells' unit sums. */
  unitStateKey(deployment: string): string {
    return this.client.deploymentKey(deployment, 'cohort-units');
  }

  /** The two generations of rewards held for the other half of their request (`heldGeneration`). */
  heldKeys(deployment: string): [held0: string, held1: string] {
    return [this.client.deploymentKey(deployment, 'cohort-held-0'), this.client.deploymentKey(deployment, 'cohort-held-1')];
  }

  /** The ridge ledger's keys: contextual arms' sums, its arm set, its positions. */
  ridgeKeys(deployment: string): [stats: string, arms: string, positions: string] {
    return ['ridge', 'ridge-arms', 'ridge-positions'].map((what) => this.client.deploymentKey(deployment, what)) as [string, string, string];
  }

  /** Every ledger's keys (totals, cohorts, ridge), each with the unit state (which only the cohort ledger writes to). */
  private ledgers(deployment: string): [stats: string, arms: string, positions: string, unitState: string][] {
    const unitState = this.unitStateKey(deployment);
    return [
      [this.key(deployment), this.armsKey(deployment), this.positionsKey(deployment), unitState],
      [...this.cohortKeys(deployment), unitState],
      [...this.ridgeKeys(deployment), unitState],
    ];
  }

  /**
   * Set while the statistics hold a joined-topic partition from its log start on: missing
   * means Redis lost them (or never had them), and the partition must be read again.
   */
  trackedKey(topic: string, partition: number): string {
    return `${this.client.prefix}tracked:${topic}:${partition}`;
  }

  async isTracked(topic: string, partition: number): Promise<boolean> {
    return (await this.client.redis.exists(this.trackedKey(topic, partition))) === 1;
  }

  /** Records that the statistics take `partition` in from `logStart`, its first offset (or a restored checkpoint's). */
  async track(topic: string, partition: number, logStart: string): Promise<void> {
    await this.client.redis.set(this.trackedKey(topic, partition), logStart);
    await this.client.redis.del(this.restoredKey(topic, partition));
  }

  /**
   * Set by a restore from a checkpoint, until the partition is tracked again: the offset
   * the checkpoint covers it to (everything before is in the restored statistics).
   */
  restoredKey(topic: string, partition: number): string {
    return `${this.client.prefix}restored:${topic}:${partition}`;
  }

  async restoredFrom(topic: string, partition: number): Promise<string | null> {
    return this.client.redis.get(this.restoredKey(topic, partition));
  }

  async markRestored(covers: { topic: string; partition: number; offset: string }[]): Promise<void> {
    await Promise.all(covers.map((c) => this.client.redis.set(this.restoredKey(c.topic, c.partition), c.offset)));
  }

  /** A deployment's statistics, arm sets and positions as they are at one instant, for a checkpoint. */
  snapshot(deployment: string): Promise<Record<string, CheckpointedHash>> {
    return snapshotHashes(this.client, deployment, STATISTICS_KINDS);
  }

  /** Writes a checkpoint's statistics of a deployment back, unless Redis holds positions of it already; answers whether it did. */
  restore(deployment: string, hashes: Record<string, CheckpointedHash>): Promise<boolean> {
    return restoreHashes(this.client, deployment, STATISTICS_KINDS, 'positions', hashes);
  }

  /**
   * Adds a batch of rewards read from one partition of the joined topic, in offset order,
   * each at most once: per deployment, chunks of one atomic script each that skip events
   * at or before the deployment's position and advance it with the increments. A
   * deployment's chunks run one after the other (a later one never passes a failed one);
   * deployments run side by side. With `startPositions` false, a deployment with no
   * position for the partition is left untouched and answered `unpositioned`: the caller
   * must first rule out that Redis lost it (`isTracked`). A cohort reward with a
   * `requestId` pairs with its request's other half (`RewardLedger`'s `pairRewards`) as
   * `clock` holds them; without a clock nothing pairs (a tool or a test placing rewards).
   */
  async applyRewards(partition: number, records: RewardRecord[], startPositions: boolean, clock?: PairClock): Promise<RewardOutcome[]> {
    if (clock && !(Number.isSafeInteger(clock.now) && clock.now >= 0 && Number.isSafeInteger(clock.holdMs) && clock.holdMs > 0)) {
      throw new Error(`the pairing clock needs whole non-negative ms and a positive hold, got ${JSON.stringify(clock)}`);
    }
    const events = records.map((r) => {
      if (!isValidName(r.variant)) throw new Error(`invalid variant name ${JSON.stringify(r.variant)}`);
      if (!Number.isFinite(r.reward)) throw new Error(`reward must be finite, got ${r.reward}`);
      if (!/^\d{1,15}$/.test(r.offset)) throw new Error(`invalid offset ${JSON.stringify(r.offset)}`);
      const rest = [r.variant, r.specVersion, String(r.reward), String(r.reward * r.reward)];
      // The unit: '' keeps no unit sums (the totals), '-' a unit of its own, '+' and its key.
      const unit = r.unitKey === undefined ? '-' : `+${r.unitKey}`;
      // The request: '' pairs nothing, '+' and its id pairs it.
      const request = r.requestId === undefined || !clock ? '' : `+${r.requestId}`;
      return {
        totals: [r.offset, statsArm(r.variant, r.role), ...rest, '', ''],
        cohort: r.cohort === undefined ? [] : [r.offset, r.cohort, ...rest, unit, request],
        ridge: r.ridge === undefined ? [] : [r.offset, r.ridge.model, r.variant, r.specVersion, r.ridge.values.length, ...r.ridge.values.map(String)],
      };
    });
    const outcomes: RewardOutcome[] = [];
    const chunks = chunksByDeployment(records, APPLY_CHUNK);
    // Settled, all of them, before answering: a retry of the batch never runs beside this call's leftovers.
    const settled = await Promise.allSettled(
      [...chunks].map(async ([deployment, own]) => {
        const [totals, cohorts] = this.ledgers(deployment);
        const held = this.heldKeys(deployment);
        const { now, holdMs } = clock ?? { now: 0, holdMs: 1 };
        for (const chunk of own) {
          const reply = String(
            await this.client.redis.applyRewards(...totals, ...held, partition, startPositions ? 1 : 0, now, holdMs, ...chunk.flatMap((i) => events[i].totals)),
          );
          if (reply === 'N') {
            for (const i of own.flat()) outcomes[i] = 'unpositioned';
            return;
          }
          const cohort = chunk.flatMap((i) => events[i].cohort);
          if (cohort.length) await this.client.redis.applyRewards(...cohorts, ...held, partition, 1, now, holdMs, ...cohort);
          const ridged = chunk.flatMap((i) => events[i].ridge);
          if (ridged.length) await this.client.redis.applyRidge(...this.ridgeKeys(deployment), partition, ...ridged);
          chunk.forEach((i, j) => (outcomes[i] = OUTCOMES[reply[j]]));
        }
      }),
    );
    const failed = settled.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    return outcomes;
  }

  /**
   * Makes the statistics follow a spec version's arms: removed arms (and arms whose run
   * restarted) lose their statistics, new ones start empty, the others are untouched.
   * `incarnation` tells a deployment deleted and created again from the one before (the
   * registry records it: the spec-log offset of its version 1). Answers the number of arms removed, or -1 when a
   * newer version is already recorded.
   */
  async reconcileArms(deployment: string, version: number, arms: Record<string, number>, incarnation: string, tombstoneTtlSeconds: number): Promise<number> {
    const pairs = Object.entries(arms).flatMap(([variant, since]) => {
      if (!isValidName(variant)) throw new Error(`invalid variant name ${JSON.stringify(variant)}`);
      return [variant, since];
    });
    const [totals, ...others] = this.ledgers(deployment);
    const removed = Number(await this.client.redis.reconcileArms(...totals, version, tombstoneTtlSeconds, incarnation, ...pairs));
    for (const keys of others) await this.client.redis.reconcileArms(...keys, version, tombstoneTtlSeconds, incarnation, ...pairs);
    return removed;
  }

  /** A deleted deployment: statistics gone, and late rewards for it not counted (a tombstone; its positions expire with it). */
  async forget(deployment: string, tombstoneTtlSeconds: number): Promise<void> {
    for (const keys of this.ledgers(deployment)) await this.client.redis.reconcileArms(...keys, 0, tombstoneTtlSeconds, '');
  }

  /** Statistics of many deployments (one round trip per server); arms with no data are absent. */
  async readMany(deployments: string[]): Promise<Map<string, Record<string, ArmStats>>> {
    if (!deployments.length) return new Map();
    const hashes = await Promise.all(deployments.map((name) => this.client.redis.hgetall(this.key(name))));
    return new Map(deployments.map((name, i) => [name, parseStats(hashes[i])]));
  }

  async read(deployment: string): Promise<Record<string, ArmStats>> {
    return (await this.readMany([deployment])).get(deployment)!;
  }

  /**
   * A deployment's statistics by the step that served them (`cohortArm`), cell by cell,
   * with their unit sums where kept; the paired cells (`pairedArm`: count, Σd, Σd²) are
   * cells of the same hash, keyed alike.
   */
  async readCohorts(deployment: string): Promise<CohortCell[]> {
    const hash = await this.client.redis.hgetall(this.cohortKeys(deployment)[0]);
    const units = parseUnitSums(hash);
    return Object.entries(parseStats(hash)).flatMap(([base, cell]) => parseCohortArm(base, cell, units[base]) ?? []);
  }

  /**
   * Deletes these cohort cells (those the controller can no longer judge,
   * `staleCohortCells`) and the unit states of these split keys: what keeps the cohorts
   * from growing with every step and slot. A late label for a deleted cell makes it
   * again, and the controller's next pass deletes it.
   */
  async pruneCohorts(deployment: string, cells: readonly CohortCell[], keys: readonly string[]): Promise<void> {
    if (cells.length) {
      const fields = cells.flatMap((cell) => [...STAT_FIELDS, ...UNIT_FIELDS].map((measure) => `${cellArm(cell)}:${measure}`));
      await this.client.redis.hdel(this.cohortKeys(deployment)[0], ...fields);
    }
    const states = this.unitStateKey(deployment);
    for (const key of keys) {
      // By arm and split key (`<arm>:@<key>\n<unit>`); HSCAN pages, so a large hash does not hold Redis.
      let cursor = '0';
      do {
        const [next, entries] = await this.client.redis.hscan(states, cursor, 'MATCH', `*:@${key}\n*`, 'COUNT', 1000);
        const fields = entries.filter((_, i) => i % 2 === 0);
        if (fields.length) await this.client.redis.hdel(states, ...fields);
        cursor = next;
      } while (cursor !== '0');
    }
  }

  /** A contextual bandit's ridge sums as stored (`readRidgeHash` reads them). */
  async readRidge(deployment: string): Promise<Record<string, string>> {
    return this.client.redis.hgetall(this.ridgeKeys(deployment)[0]);
  }

  /**
   * Drops ridge fields that no longer count (`RidgeRead.stale`: other features, eras too
   * old to weigh): outside the once-per-event path, which is harmless since nothing reads them.
   */
  async dropRidge(deployment: string, fields: string[]): Promise<void> {
    if (fields.length) await this.client.redis.hdel(this.ridgeKeys(deployment)[0], ...fields);
  }

  /** Sets these arms' statistics as given, outside the updater's once-per-event path: for tests and tools that seed a state. */
  async write(deployment: string, arms: Record<string, ArmStats>): Promise<void> {
    await this.client.redis.hset(this.key(deployment), statsFields(arms));
  }

  /** Sets these cohort cells' statistics as given, outside the updater's path: for tests and tools that seed a state. */
  async writeCohorts(deployment: string, cells: CohortCell[]): Promise<void> {
    const units = cells.flatMap((cell) =>
      cell.units ? Object.entries(UNIT_MEASURES).map(([field, measure]) => [`${cellArm(cell)}:${field}`, cell.units![measure]] as const) : [],
    );
    await this.client.redis.hset(this.cohortKeys(deployment)[0], {
      ...statsFields(Object.fromEntries(cells.map((cell) => [cellArm(cell), cell.stats]))),
      ...Object.fromEntries(units),
    });
  }
}

const STAT_FIELDS: string[] = ['count', 'sum', 'sumSq'];
/** A cohort cell's unit sums (apply-rewards.lua), as `UnitSums` names them. */
const UNIT_MEASURES: Record<string, keyof UnitSums> = { units: 'units', unitCountSq: 'countSq', unitSumSq: 'sumSq', unitCountSum: 'countSum' };
const UNIT_FIELDS = Object.keys(UNIT_MEASURES);

/** The unit sums per cell field base, for cells that have all four. */
export function parseUnitSums(hash: Record<string, string>): Record<string, UnitSums> {
  const found: Record<string, Partial<UnitSums>> = Object.create(null);
  for (const [field, value] of Object.entries(hash)) {
    const cut = field.lastIndexOf(':');
    const name = field.slice(cut + 1);
    if (cut < 1 || !Object.hasOwn(UNIT_MEASURES, name)) continue;
    (found[field.slice(0, cut)] ??= {})[UNIT_MEASURES[name]] = Number(value);
  }
  const whole: Record<string, UnitSums> = Object.create(null);
  for (const [base, sums] of Object.entries(found)) if (Object.keys(sums).length === UNIT_FIELDS.length) whole[base] = sums as UnitSums;
  return whole;
}

/** The hash fields of arms' statistics: what `parseStats` reads back. */
export function statsFields(arms: Record<string, ArmStats>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(arms).flatMap(([arm, stats]) => STAT_FIELDS.map((measure) => [`${arm}:${measure}`, stats[measure as keyof ArmStats]])),
  );
}

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
