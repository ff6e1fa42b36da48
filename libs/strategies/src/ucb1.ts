import { mean, variance } from './arm-stats';
import { BanditArm, argmaxAll, pooledStats, statsOf } from './bandit-arm';
import type { RewardKind } from './reward';
import type { Weights } from './weights';

/**
 * UCB1: play every untried arm first (they share the traffic), then all of it to the arm
 * with the highest mean + c·√(2 ln N / n). Deterministic; ties share the weight.
 * c is 1 for binary rewards (UCB1's bound assumes rewards in [0, 1]); for continuous
 * rewards it is the pooled standard deviation, so the exploration bonus is on the
 * rewards' own scale and not negligible next to, say, an absolute error of 40.
 */
export function ucb1Weights(arms: readonly BanditArm[], rewardKind: RewardKind): Weights {
  const untried = arms.filter((arm) => statsOf(arm).count === 0);
  if (untried.length) {
    const first = new Set(untried.map((arm) => arm.name));
    return Object.fromEntries(arms.map((arm) => [arm.name, first.has(arm.name) ? 1 / first.size : 0]));
  }
  const pool = pooledStats(arms);
  const sd = Math.sqrt(variance(pool));
  const scale = rewardKind === 'binary' || !(sd > 0) ? 1 : sd;
  const scores = arms.map((arm) => {
    const stats = statsOf(arm);
    return mean(stats) + scale * Math.sqrt((2 * Math.log(pool.count)) / stats.count);
  });
  const best = new Set(argmaxAll(scores));
  return Object.fromEntries(arms.map((arm, i) => [arm.name, best.has(i) ? 1 / best.size : 0]));
}
