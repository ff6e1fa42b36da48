import type { Role } from '@switchyard/contracts';
import { type ArmStats, emptyStats, mergeStats } from './arm-stats';
import { emptyUnitSums, mergeUnitSums, type UnitSums } from './cluster';
import { splitKey } from './report';

/**
 * Where a joined reward is counted in a deployment's statistics hash: served rewards
 * under the variant's own name (what the bandit and the router read), shadow rewards
 * under `<variant>:shadow` (what the shadow report reads). Keeping them apart means a
 * bandit learns only from the traffic it actually routed, while the shadow report still
 * gets every shadow's reward.
 */
export function statsArm(variant: string, role: Role): string {
  return role === 'served' ? variant : `${variant}:shadow`;
}

/** What a reward's cohort is read from: the joined event's copy of its prediction. */
export interface ServedReward {
  variant: string;
  role: Role;
  specVersion: number;
  step?: number;
  /** When the prediction was served (ISO 8601), not when its label came. */
  predictedAt: string;
}

/**
 * The cohort statistics field (base) a reward counts under: its arm (`statsArm`), the
 * `splitKey` its prediction was served under, and the `bucketSeconds`-wide slot of time
 * (epoch seconds, start included, end not) it was served in:
 * `<arm>:@<splitKey>:<start>-<end>`. A label counts for the step that served its
 * prediction however late it comes, and the serve time lets a label horizon leave out
 * predictions too young to be judged. The slot is in the name, so a reader needs no
 * width, and a width changed between writers leaves every cell exact about what it holds.
 * The arm comes first, as in the totals, so the arm-life rules (`reconcile-arms.lua`)
 * find the variant before the first ':'.
 */
export function cohortArm(reward: ServedReward, bucketSeconds: number): string {
  const served = Date.parse(reward.predictedAt);
  if (!Number.isFinite(served)) throw new Error(`predictedAt must be an ISO 8601 time, got ${JSON.stringify(reward.predictedAt)}`);
  const start = Math.floor(served / 1000 / bucketSeconds) * bucketSeconds;
  return cellArm({
    arm: statsArm(reward.variant, reward.role),
    key: splitKey(reward.specVersion, reward.step),
    servedFrom: start,
    servedBefore: start + bucketSeconds,
  });
}

/** The field base of a cohort cell (`cohortArm`), which `parseCohortArm` reads back. */
export function cellArm({ arm, key, servedFrom, servedBefore }: Omit<CohortCell, 'stats'>): string {
  return `${arm}:@${key}:${servedFrom}-${servedBefore}`;
}

/** One cell of the cohort statistics: an arm's labelled pairs served under `key`, from `servedFrom` to before `servedBefore` (epoch seconds). */
export interface CohortCell {
  arm: string;
  key: string;
  servedFrom: number;
  servedBefore: number;
  stats: ArmStats;
  /**
   * The cell's share of its arm's per-unit sums over the split key (cluster.ts): each
   * reward's increment of them lands in the cell its prediction was served in. Absent in
   * cells counted before the updater kept them.
   */
  units?: UnitSums;
}

/** The cell `cohortArm` named, or `undefined` for a field base that is none. */
export function parseCohortArm(base: string, stats: ArmStats, units?: UnitSums): CohortCell | undefined {
  const match = /^(.+):@([0-9.]+):([0-9]+)-([0-9]+)$/.exec(base);
  return match ? { arm: match[1], key: match[2], servedFrom: Number(match[3]), servedBefore: Number(match[4]), stats, ...(units && { units }) } : undefined;
}

/** An arm's labelled pairs of some cohorts, split by the label horizon. */
export interface CohortRewards {
  /** Of predictions served before the horizon's cut: what is judged. */
  judged: ArmStats;
  /**
   * The judged pairs' per-unit sums, when every judged cell has them (else the judged
   * rewards are taken as independent). Exact when labels arrive in the order their
   * predictions were served, and always over a whole split key; a unit whose labels of a
   * judged and of a waiting slot arrive out of that order has its cross term counted in
   * the slot of the later one.
   */
  judgedUnits?: UnitSums;
  /** Of predictions younger than that: labelled, not judged yet. */
  waiting: ArmStats;
}

/** Which cells are judged: of the cohorts `keys`, and slots served from `servedFrom` on (epoch seconds; absent, all). */
export interface CohortSelection {
  keys: readonly string[];
  servedFrom?: number;
}

/**
 * Per arm, the labelled pairs of the cells `selection` names, judged (served before
 * `judgedBefore`, epoch seconds) or still waiting. A cell is judged only when its whole
 * slot lies before the cut, so a judged pair is never younger than the horizon; with
 * `servedFrom`, only cells whose whole slot lies after it count at all.
 */
export function cohortRewards(cells: readonly CohortCell[], { keys, servedFrom }: CohortSelection, judgedBefore: number): Record<string, CohortRewards> {
  const arms: Record<string, CohortRewards> = Object.create(null);
  const unclustered = new Set<string>();
  for (const cell of cells) {
    if (!keys.includes(cell.key) || (servedFrom !== undefined && cell.servedFrom < servedFrom)) continue;
    const arm = (arms[cell.arm] ??= { judged: emptyStats(), waiting: emptyStats() });
    if (cell.servedBefore <= judgedBefore) {
      arm.judged = mergeStats(arm.judged, cell.stats);
      if (cell.units) arm.judgedUnits = mergeUnitSums(arm.judgedUnits ?? emptyUnitSums(), cell.units);
      else unclustered.add(cell.arm);
    } else arm.waiting = mergeStats(arm.waiting, cell.stats);
  }
  for (const arm of unclustered) delete arms[arm].judgedUnits;
  return arms;
}

/**
 * The cells a comparison judging `selection` can never judge again, and the split keys it
 * judges no cell of. A comparison judges only its own keys (a new spec version or plan step
 * is a new key, so a key left behind never comes back), and a comparison that starts afresh
 * on a key judges only slots served wholly after `servedFrom`, which only moves later: so
 * these cells are dead weight, what the controller deletes to keep the cohorts bounded.
 */
export function staleCohortCells(cells: readonly CohortCell[], { keys, servedFrom }: CohortSelection): { cells: CohortCell[]; keys: string[] } {
  const stale = cells.filter((cell) => !keys.includes(cell.key) || (servedFrom !== undefined && cell.servedFrom < servedFrom));
  return { cells: stale, keys: [...new Set(stale.map((cell) => cell.key))].filter((key) => !keys.includes(key)) };
}
