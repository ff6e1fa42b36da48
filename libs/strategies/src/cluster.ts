/**
 * Rewards clustered by unit. A canary splits units (sticky by `unitKey`), not requests: a
 * unit that sends many requests sends correlated rewards (the same customer, the same kind
 * of input), and the variance of an arm's mean is larger than s²/n says. The fix is to
 * treat the unit as the observation: the arm's mean is a ratio Σ S_u / Σ n_u of per-unit
 * sums (n_u rewards summing to S_u), whose variance the delta method gives (Deng, Knoblich
 * & Lu, "Applying the Delta Method in Metric Analytics: A Practical Guide with Novel
 * Ideas", KDD 2018, §3), the same as the cluster-robust (sandwich) variance of a mean
 * (Liang & Zeger 1986; Cameron & Miller, "A Practitioner's Guide to Cluster-Robust
 * Inference", J. Human Resources 2015).
 *
 * It needs only these aggregates over the arm's units, each kept by adding to it as a
 * reward arrives (`addToUnitSums`). A request without a unit key is its own unit (n_u = 1).
 */
import type { ArmStats } from './arm-stats';

export interface UnitSums {
  /** K, the number of distinct units with at least one reward. */
  units: number;
  /** Σ n_u². */
  countSq: number;
  /** Σ S_u². */
  sumSq: number;
  /** Σ n_u · S_u. */
  countSum: number;
}

export function emptyUnitSums(): UnitSums {
  return { units: 0, countSq: 0, sumSq: 0, countSum: 0 };
}

/** Sum of two sets of aggregates over disjoint rewards (cells of a cohort). */
export function mergeUnitSums(a: UnitSums, b: UnitSums): UnitSums {
  return { units: a.units + b.units, countSq: a.countSq + b.countSq, sumSq: a.sumSq + b.sumSq, countSum: a.countSum + b.countSum };
}

/**
 * The aggregates after one more reward `reward` of a unit that had `before` (n_u rewards
 * summing to S_u; { count: 0, sum: 0 } for a unit new to the arm, or a request without a
 * unit key): (n+1)² − n² = 2n + 1, (S+r)² − S² = 2Sr + r², (n+1)(S+r) − nS = nr + S + r.
 * Every term is an addition, so a store can keep them with atomic increments.
 */
export function addToUnitSums(sums: UnitSums, before: { count: number; sum: number }, reward: number): UnitSums {
  const { count: n, sum: s } = before;
  return {
    units: sums.units + (n === 0 ? 1 : 0),
    countSq: sums.countSq + 2 * n + 1,
    sumSq: sums.sumSq + 2 * s * reward + reward * reward,
    countSum: sums.countSum + n * reward + s + reward,
  };
}

/**
 * Variance of the arm's mean Σ S_u / Σ n_u if its true mean were `at` (default: its own
 * mean), by the delta method / cluster-robust sandwich (Deng et al. 2018, eq. for the
 * ratio metric; Cameron & Miller 2015, eq. 11 with the K/(K − 1) correction):
 *
 *   Var ≈ K/(K − 1) · Σ_u (S_u − at · n_u)² / N²
 *       = K/(K − 1) · (ΣS_u² − 2·at·Σn_u S_u + at²·Σn_u²) / N²,   N = Σ n_u.
 *
 * With every n_u = 1 it is (Σ (r − at)²) / (n (n − 1)), the independent case. NaN below two
 * units: one unit carries no information on how units vary.
 */
export function clusteredMeanVariance(stats: ArmStats, units: UnitSums, at = stats.sum / stats.count): number {
  const k = units.units;
  if (k < 2 || !(stats.count > 0)) return NaN;
  const squares = units.sumSq - 2 * at * units.countSum + at * at * units.countSq;
  // The expansion cancels catastrophically when every unit sits at `at`; never below 0.
  return Math.max(0, ((k / (k - 1)) * squares) / (stats.count * stats.count));
}
