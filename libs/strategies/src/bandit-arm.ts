import { ArmStats, emptyStats, mergeStats } from './arm-stats';

/** One arm as the bandit sees it; `stats` is absent for an arm with no reward yet. */
export interface BanditArm {
  name: string;
  stats?: ArmStats;
}

export function statsOf(arm: BanditArm): ArmStats {
  return arm.stats ?? emptyStats();
}

/** Every arm's rewards together: the scale continuous rewards live on, before any arm has its own. */
export function pooledStats(arms: readonly BanditArm[]): ArmStats {
  return arms.map(statsOf).reduce(mergeStats, emptyStats());
}

/** Indices of the largest scores; ties are kept so they can share the weight instead of favouring the first arm. */
export function argmaxAll(scores: readonly number[]): number[] {
  const best = Math.max(...scores);
  return scores.flatMap((score, i) => (score === best ? [i] : []));
}
