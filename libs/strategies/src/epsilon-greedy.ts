import { mean } from './arm-stats';
import { BanditArm, argmaxAll, statsOf } from './bandit-arm';
import { uniformWeights, Weights } from './weights';

/** Exploration rate when a bandit spec leaves `epsilon` out. */
export const DEFAULT_EPSILON = 0.1;

/**
 * Epsilon-greedy: 1 - epsilon to the arm with the best mean (tied arms split it), epsilon
 * spread over all arms. Arms with no reward yet have no mean, so they only explore;
 * with no data at all every arm gets the same share.
 */
export function epsilonGreedyWeights(arms: readonly BanditArm[], epsilon: number = DEFAULT_EPSILON): Weights {
  const tried = arms.filter((arm) => statsOf(arm).count > 0);
  if (!tried.length) return uniformWeights(arms.map((arm) => arm.name));
  const best = new Set(argmaxAll(tried.map((arm) => mean(statsOf(arm)))).map((i) => tried[i].name));
  return Object.fromEntries(arms.map((arm) => [arm.name, epsilon / arms.length + (best.has(arm.name) ? (1 - epsilon) / best.size : 0)]));
}
