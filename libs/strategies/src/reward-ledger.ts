import type { Role, StrategySpec } from '@switchyard/contracts';
import { addReward, ArmStats, emptyStats } from './arm-stats';
import { addToUnitSums, emptyUnitSums, type UnitSums } from './cluster';
import { cellArm, parseCohortArm, statsArm } from './reward-stats';
import type { RidgeIncrement } from './contextual-policy';

/** One joined reward as the statistics take it in, from one partition of the joined topic. */
export interface LedgerReward {
  /** Its offset in the joined topic's partition: what makes a redelivery recognisable. */
  offset: string;
  variant: string;
  role: Role;
  specVersion: number;
  reward: number;
  /**
   * The cohort statistics field it also counts under (`cohortArm`): the step that served
   * it. Absent, it counts in the arm's totals only (a reward placed by a tool or a test).
   */
  cohort?: string;
  /** The unit its prediction was served to (`unitKey`); absent, a unit of its own. Only the cohort statistics keep unit sums. */
  unitKey?: string;
  /** A contextual bandit's served reward: what it adds to its arm's ridge sums (`ridgeIncrement`). */
  ridge?: RidgeIncrement;
  /** The request it answered: with a cohort, what pairs a shadow's reward with the served one of the same request (`pairRewards`). */
  requestId?: string;
}

/**
 * One request's rewards of one split key that wait for their other half: the served one,
 * with the slot of serve time its cohort cell has (`<from>-<before>`), and shadows' by variant.
 */
export interface HeldRewards {
  served?: { reward: number; slot: string };
  shadows: Record<string, number>;
}

/**
 * The pairing rule: a request's served reward and each shadow's reward of the same request
 * make one pair, d = shadow − served (the candidate against the primary, as
 * `pairedNullTest` takes it), counted once, whichever comes first. A shadow's reward waits
 * for the served one; the served one waits for every shadow (a step may have several), so
 * it stays held until its request's state is pruned. A second reward of the same arm and
 * request (the label sent twice, two offsets) pairs nothing: the first one counts. A pair
 * counts in the slot of serve time of its served half (`slot`, the served reward's cohort
 * cell's), whichever half came first: the request's serve time, as the cohort cells are
 * kept by, so a label horizon judges pairs as it judges the arms' cells.
 * Answers the state held after `reward` and the differences it completes, by shadow variant.
 */
export function pairRewards(
  held: HeldRewards | undefined,
  variant: string,
  role: Role,
  reward: number,
  slot: string,
): { held: HeldRewards; differences: [shadow: string, d: number, slot: string][] } {
  const state: HeldRewards = { served: held?.served, shadows: Object.assign(Object.create(null), held?.shadows) };
  if (role === 'served') {
    if (state.served !== undefined) return { held: state, differences: [] };
    const differences = Object.entries(state.shadows).map(([shadow, r]): [string, number, string] => [shadow, r - reward, slot]);
    return { held: { served: { reward, slot }, shadows: Object.create(null) }, differences };
  }
  if (state.served !== undefined) return { held: state, differences: [[variant, reward - state.served.reward, state.served.slot]] };
  if (!Object.hasOwn(state.shadows, variant)) state.shadows[variant] = reward;
  return { held: state, differences: [] };
}

/**
 * The arm of a shadow's paired cells (`<shadow>:paired`), each a cohort cell
 * (`<shadow>:paired:@<splitKey>:<from>-<before>`, `cellArm`) of count, Σd, Σd² of
 * d = shadow − served over the requests served in that slot.
 */
export function pairedArm(shadow: string): string {
  return `${shadow}:paired`;
}

/** The variant whose paired cells a cohort cell's arm names (`pairedArm`), or `undefined` for an arm's own cell. */
export function pairedVariant(arm: string): string | undefined {
  return /^([^:]+):paired$/.exec(arm)?.[1];
}

/**
 * Whether a reward is held to pair with its request's other half, under the strategy
 * served now (`servingSpec`: a plan's step): every reward of a shadow strategy; of a
 * paired canary (`pairWithPrimary`), the canary's served rewards and the shadow ones (the
 * primary's answers to the canary's requests). The primary's own requests of a canary
 * have no other half, so they are not held.
 */
export function pairsByRequest(strategy: StrategySpec, reward: { variant: string; role: Role }): boolean {
  if (strategy.type === 'shadow') return true;
  return strategy.type === 'canary' && strategy.pairWithPrimary === true && (reward.role === 'shadow' || reward.variant === strategy.canary);
}

/** The field of a request's held rewards: its split key and request id, apart by a newline (which neither holds). */
export function heldField(key: string, requestId: string): string {
  return `${key}\n${requestId}`;
}

/** Requests' held rewards first held in one period of `holdMs` (`epoch`: the period's number since 1970). */
export interface HeldGeneration {
  epoch: number;
  rewards: Map<string, HeldRewards>;
}

/** When the updater pairs rewards: its clock (epoch ms) and how long a half is held (ms, the join window). */
export interface PairClock {
  now: number;
  holdMs: number;
}

/**
 * The hold rule: two generations, by period (now / holdMs) modulo 2. The one of this
 * period takes what is held afresh; the other still answers if it is of the period just
 * before; one of any other period holds nothing (and is emptied when its slot is this
 * period's and something is held). Answers the generations as they answer at `clock`.
 */
export function heldGeneration(generations: readonly (HeldGeneration | undefined)[], clock: PairClock): HeldGeneration[] {
  const epoch = Math.floor(clock.now / clock.holdMs);
  return [0, 1].map((slot) => {
    const own = generations[slot];
    const period = slot === epoch % 2 ? epoch : epoch - 1;
    return own?.epoch === period ? own : { epoch: period, rewards: new Map() };
  });
}

/**
 * What became of each reward of a batch, in order. `unpositioned`: nothing was done,
 * because the deployment has no position for the partition yet and none was to be started.
 */
export type RewardOutcome = 'applied' | 'duplicate' | 'stale' | 'unpositioned';

/**
 * The arms a deployment's statistics follow: the arms of the spec version last reconciled
 * (`since`: variant → the first spec version of its current run, `incarnation`: which life
 * of the deployment), or a deleted deployment's tombstone.
 */
export type ArmSet = { deleted: true } | { deleted?: false; version: number; incarnation: string; since: Record<string, number> };

/**
 * The dedup rule: events of a partition come in offset order, so one at or before the
 * partition's position (the last offset taken in) is a redelivery.
 */
export function isRedelivery(position: string | undefined, offset: string): boolean {
  return position !== undefined && Number(offset) <= Number(position);
}

/**
 * The arm-life rule: whether a reward of `variant` under spec version `specVersion` counts.
 * With no arm set (a deployment never reconciled) everything counts; a tombstone counts
 * nothing. A known arm counts rewards from its `since` on (earlier ones belong to an
 * earlier life of the arm). An arm not in the set counts only rewards of a spec version
 * newer than the set: the spec changed and the set will follow; older ones are rewards
 * of a removed arm arriving late.
 */
export function rewardCounts(arms: ArmSet | undefined, variant: string, specVersion: number): boolean {
  if (!arms) return true;
  if (arms.deleted) return false;
  return Object.hasOwn(arms.since, variant) ? specVersion >= arms.since[variant] : specVersion > arms.version;
}

/**
 * One deployment's reward statistics, its arm set and its per-partition positions, as the
 * updater's Redis scripts keep them (`libs/store/src/lua/apply-rewards.lua`,
 * `reconcile-arms.lua`): the reference those scripts are tested against, and what tests
 * recount a joined topic with (`recountRewards`). Tombstones expire in Redis; time is not
 * modelled here. The cohort statistics are a second run of the same scripts over their
 * own keys (`ArmStatsStore`), with the same rules and the same events: here, one more map.
 */
export class RewardLedger {
  /** `statsArm` → its statistics (a null-prototype object: any variant name is an arm). */
  stats: Record<string, ArmStats> = Object.create(null);
  /** `cohortArm` → its statistics: the same rewards as `stats`, by the step that served them. */
  cohorts: Record<string, ArmStats> = Object.create(null);
  /** `cohortArm` → its share of the per-unit sums (cluster.ts) of its arm and split key. */
  cohortUnits: Record<string, UnitSums> = Object.create(null);
  /** `<arm>:@<splitKey>` and unit key → that unit's rewards so far: what the next reward's increments depend on. */
  unitState = new Map<string, { count: number; sum: number }>();
  /**
   * `<variant>:<model>` → the sums of its ridge increments: a third ledger with positions
   * of its own (`ridgePositions`), which takes in the rewards that carry one after the
   * totals took the batch in, so after a crash between the two it catches up.
   */
  ridge: Record<string, number[]> = Object.create(null);
  /** A paired cell's field base (`pairedArm`, split key, slot) → count, Σd, Σd² of its shadow's paired differences (`pairRewards`). */
  paired: Record<string, ArmStats> = Object.create(null);
  /**
   * The rewards of requests that wait for their other half (`heldField` → them), in two
   * generations of `holdMs` each (`heldGeneration`): a request's halves come within the
   * join window of each other, so what is held longer goes, and a shadow step holds at most
   * two windows of requests. Kept when the statistics start a new life: an arm's next life
   * serves under a newer spec version, another split key, and never pairs with them.
   */
  held: (HeldGeneration | undefined)[] = [];
  arms?: ArmSet;
  /** Partition → offset of the last event taken in from it. */
  readonly positions = new Map<number, string>();
  readonly ridgePositions = new Map<number, string>();

  /**
   * Takes in a batch from one partition, in offset order: redeliveries are skipped, stale
   * rewards (`rewardCounts`) only move the position. With `start` false and no position
   * for the partition, nothing changes (the caller must first rule out that it was lost).
   */
  apply(partition: number, rewards: readonly LedgerReward[], start: boolean, clock?: PairClock): RewardOutcome[] {
    let position = this.positions.get(partition);
    if (position === undefined && !start) return rewards.map(() => 'unpositioned');
    const outcomes = rewards.map((r): RewardOutcome => {
      if (isRedelivery(position, r.offset)) return 'duplicate';
      position = r.offset;
      if (!rewardCounts(this.arms, r.variant, r.specVersion)) return 'stale';
      const arm = statsArm(r.variant, r.role);
      this.stats[arm] = addReward(this.stats[arm] ?? emptyStats(), r.reward);
      if (r.cohort !== undefined) {
        this.cohorts[r.cohort] = addReward(this.cohorts[r.cohort] ?? emptyStats(), r.reward);
        const state = r.unitKey === undefined ? undefined : unitStateField(r.cohort, r.unitKey);
        const before = (state && this.unitState.get(state)) || { count: 0, sum: 0 };
        this.cohortUnits[r.cohort] = addToUnitSums(this.cohortUnits[r.cohort] ?? emptyUnitSums(), before, r.reward);
        if (state) this.unitState.set(state, { count: before.count + 1, sum: before.sum + r.reward });
        if (clock) this.pair(r, clock);
      }
      return 'applied';
    });
    if (position !== undefined) this.positions.set(partition, position);
    this.applyRidge(partition, rewards);
    return outcomes;
  }

  /**
   * Pairs a counted cohort reward with its request's other half (`pairRewards`), per split
   * key: what is held stays in the generation that first held it.
   */
  private pair(r: LedgerReward, clock: PairClock): void {
    const cell = parseCohortArm(r.cohort!, emptyStats());
    if (r.requestId === undefined || cell === undefined) return;
    const { key } = cell;
    const field = heldField(key, r.requestId);
    const slot = Math.floor(clock.now / clock.holdMs) % 2;
    const live = heldGeneration(this.held, clock);
    this.held[slot] = live[slot];
    const generation = live.find((g) => g.rewards.has(field)) ?? live[slot];
    const { held, differences } = pairRewards(generation.rewards.get(field), r.variant, r.role, r.reward, `${cell.servedFrom}-${cell.servedBefore}`);
    generation.rewards.set(field, held);
    for (const [shadow, d, slot] of differences) {
      const [servedFrom, servedBefore] = slot.split('-').map(Number);
      const base = cellArm({ arm: pairedArm(shadow), key, servedFrom, servedBefore });
      this.paired[base] = addReward(this.paired[base] ?? emptyStats(), d);
    }
  }

  private applyRidge(partition: number, rewards: readonly LedgerReward[]): void {
    let position = this.ridgePositions.get(partition);
    for (const r of rewards) {
      if (!r.ridge || isRedelivery(position, r.offset)) continue;
      position = r.offset;
      if (!rewardCounts(this.arms, r.variant, r.specVersion)) continue;
      const field = `${r.variant}:${r.ridge.model}`;
      const sums = [...(this.ridge[field] ?? [])];
      r.ridge.values.forEach((v, i) => (sums[i] = (sums[i] ?? 0) + v));
      this.ridge[field] = sums;
    }
    if (position !== undefined) this.ridgePositions.set(partition, position);
  }

  /**
   * Makes the arm set follow spec version `version` (`arms`: variant → since) of the
   * deployment's life `incarnation`: removed arms, and arms whose run restarted, lose their
   * statistics (served and shadow); the others keep theirs. A new life (another
   * incarnation, or after a tombstone) starts empty; with no set recorded, statistics of
   * variants outside the spec are leftovers and go. A view older than the recorded one
   * changes nothing and answers -1; else the number of arms removed. Positions are kept.
   */
  reconcile(version: number, incarnation: string, arms: Record<string, number>): number {
    if (this.arms && (this.arms.deleted || this.arms.incarnation !== incarnation)) this.startLife();
    const current = this.arms && !this.arms.deleted ? this.arms : undefined;
    const recorded = current?.version ?? 0;
    if (version < recorded) return -1;
    const keep = new Map(Object.entries(arms));
    const since: Record<string, number> = Object.assign(Object.create(null), current?.since);
    const reset = new Set<string>();
    let removed = 0;
    for (const name of Object.keys(since)) {
      if (keep.has(name)) continue;
      delete since[name];
      reset.add(name);
      removed++;
    }
    for (const [name, start] of keep) {
      const recordedSince = since[name] ?? 0;
      if (recordedSince >= start) continue;
      // Removed and added back while nobody was looking: the old life's statistics go too.
      if (recordedSince > 0) reset.add(name);
      since[name] = start;
    }
    const goes = (field: string) => {
      const variant = field.split(':')[0];
      return reset.has(variant) || (recorded === 0 && !keep.has(variant));
    };
    for (const stats of [this.stats, this.cohorts, this.cohortUnits, this.ridge, this.paired])
      for (const arm of Object.keys(stats)) if (goes(arm)) delete stats[arm];
    for (const field of [...this.unitState.keys()]) if (goes(field)) this.unitState.delete(field);
    this.arms = { version, incarnation, since };
    return removed;
  }

  /** The deployment was deleted: statistics gone, and rewards that come late counted nowhere (a tombstone). */
  forget(): void {
    this.startLife();
    this.arms = { deleted: true };
  }

  private startLife(): void {
    this.stats = Object.create(null);
    this.cohorts = Object.create(null);
    this.cohortUnits = Object.create(null);
    this.unitState = new Map();
    this.ridge = Object.create(null);
    this.paired = Object.create(null);
    this.arms = undefined;
  }
}

/**
 * The field of a unit's state in the per-unit hash (`apply-rewards.lua`): the cohort
 * cell's arm and split key without its slot, so a unit is one cluster over the whole
 * step, and the unit key after a newline (which no arm or key holds).
 */
export function unitStateField(cohort: string, unitKey: string): string {
  return `${cohort.replace(/:[0-9]+-[0-9]+$/, '')}\n${unitKey}`;
}

/** A joined event at its place in the topic, as `recountRewards` takes it. */
export interface PlacedReward extends LedgerReward {
  deployment: string;
  partition: number;
}

/**
 * The statistics per deployment that taking in every one of `events` (a topic's messages,
 * each once, in any order) from the start gives: deployment → `statsArm` → stats. What
 * the updater's statistics must equal after it read the same topic, whatever it saw twice.
 */
export function recountRewards(events: Iterable<PlacedReward>): Map<string, Record<string, ArmStats>> {
  const ledgers = new Map<string, RewardLedger>();
  const inOrder = [...events].sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset));
  for (const event of inOrder) {
    const ledger = ledgers.get(event.deployment) ?? ledgers.set(event.deployment, new RewardLedger()).get(event.deployment)!;
    ledger.apply(event.partition, [event], true);
  }
  return new Map([...ledgers].map(([deployment, ledger]) => [deployment, ledger.stats]));
}
