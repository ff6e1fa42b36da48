/** Reward statistics of one variant: enough to get a mean and a variance, and to add to atomically. */
export interface ArmStats {
  count: number;
  sum: number;
  sumSq: number;
}

export interface MeanInterval {
  mean: number;
  low: number;
  high: number;
}

export function emptyStats(): ArmStats {
  return { count: 0, sum: 0, sumSq: 0 };
}

export function addReward(stats: ArmStats, reward: number): ArmStats {
  return { count: stats.count + 1, sum: stats.sum + reward, sumSq: stats.sumSq + reward * reward };
}

/** Sum of two sets of statistics, e.g. every arm of a deployment pooled. */
export function mergeStats(a: ArmStats, b: ArmStats): ArmStats {
  return { count: a.count + b.count, sum: a.sum + b.sum, sumSq: a.sumSq + b.sumSq };
}

/** NaN when there is no reward yet: an arm with no data has no mean, and 0 would be a claim. */
export function mean(stats: ArmStats): number {
  return stats.count > 0 ? stats.sum / stats.count : NaN;
}

/** Sample variance (n - 1); NaN below two rewards. */
export function variance(stats: ArmStats): number {
  if (stats.count < 2) return NaN;
  const squares = stats.sumSq - (stats.sum * stats.sum) / stats.count;
  // sumSq - sum²/n cancels catastrophically when rewards are nearly constant; never below 0.
  return Math.max(0, squares / (stats.count - 1));
}

/**
 * Normal-approximation interval for the mean, mean ± z·s/√n (z = 1.96 for 95 %).
 * Undefined below two rewards, where there is no spread to estimate an interval from.
 */
export function meanConfidenceInterval(stats: ArmStats, z = 1.96): MeanInterval | undefined {
  if (stats.count < 2) return undefined;
  const m = mean(stats);
  const halfWidth = z * Math.sqrt(variance(stats) / stats.count);
  return { mean: m, low: m - halfWidth, high: m + halfWidth };
}
