import { mean, variance } from './arm-stats';
import { BanditArm, argmaxAll, pooledStats, statsOf } from './bandit-arm';
import type { RewardKind } from './reward';
import { Rng, sampleBeta, sampleNormal } from './rng';
import type { Weights } from './weights';

/** Monte Carlo draws per weight computation. @default 1000 */
export const DEFAULT_THOMPSON_SAMPLES = 1000;

/** Pseudo-observations the pooled prior is worth, so an arm's own data outweighs it after a few rewards. */
const PRIOR_WEIGHT = 1;

type PosteriorSampler = (rng: Rng) => number;

/** Beta(1 + successes, 1 + failures): a uniform prior on the success rate. */
function betaPosterior(arm: BanditArm): PosteriorSampler {
  const { count, sum } = statsOf(arm);
  // Rewards outside {0, 1} would make a failure count negative; clamp rather than crash.
  const successes = Math.min(Math.max(sum, 0), count);
  return (rng) => sampleBeta(rng, 1 + successes, 1 + count - successes);
}

/**
 * Normal posterior of the mean with the pooled rewards of all arms as a weak prior:
 * continuous rewards have no natural scale, and the pool supplies one, so an untried
 * arm is drawn around the typical reward with the typical spread.
 */
function gaussianPosteriors(arms: readonly BanditArm[]): PosteriorSampler[] {
  const pool = pooledStats(arms);
  const priorMean = pool.count > 0 ? mean(pool) : 0;
  const pooledVariance = variance(pool);
  const priorVariance = pooledVariance > 0 ? pooledVariance : 1;
  return arms.map((arm) => {
    const stats = statsOf(arm);
    const n = stats.count;
    const posteriorMean = (stats.sum + PRIOR_WEIGHT * priorMean) / (n + PRIOR_WEIGHT);
    const armVariance = n >= 2 ? ((n - 1) * variance(stats) + PRIOR_WEIGHT * priorVariance) / (n - 1 + PRIOR_WEIGHT) : priorVariance;
    const sd = Math.sqrt(armVariance / (n + PRIOR_WEIGHT));
    return (rng) => sampleNormal(rng, posteriorMean, sd);
  });
}

/**
 * Thompson sampling as weights: the probability that each arm is the best, estimated
 * from `samples` joint draws of the posteriors. Sampling the router's traffic from these
 * weights is Thompson sampling, computed once per refresh instead of once per request.
 */
export function thompsonWeights(arms: readonly BanditArm[], rng: Rng, rewardKind: RewardKind, samples = DEFAULT_THOMPSON_SAMPLES): Weights {
  const posteriors = rewardKind === 'binary' ? arms.map(betaPosterior) : gaussianPosteriors(arms);
  const wins = arms.map(() => 0);
  for (let s = 0; s < samples; s++) {
    const winners = argmaxAll(posteriors.map((draw) => draw(rng)));
    for (const i of winners) wins[i] += 1 / winners.length;
  }
  return Object.fromEntries(arms.map((arm, i) => [arm.name, wins[i] / samples]));
}
