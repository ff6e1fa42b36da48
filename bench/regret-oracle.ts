// The regret bench's oracle (an instant-feedback bandit and its regret), not something a service runs: it lives with the bench.
import type { BanditAlgorithm } from '@switchyard/contracts';
import { addReward, ArmStats, banditWeights, chooseArm, emptyStats, type RewardKind, type Rng } from '@switchyard/strategies';

export interface InstantBanditOptions {
  algorithm: BanditAlgorithm;
  arms: readonly string[];
  requests: number;
  /** The reward `arm` would earn on request `t`; only the chosen arm's is ever revealed. */
  reward: (t: number, arm: string) => number;
  /** Drives both the algorithm's Monte Carlo and the arm draws. */
  rng: Rng;
  rewardKind: RewardKind;
  minShare?: number;
  samples?: number;
}

/**
 * The arm a bandit chooses for each request when every reward is known before the next
 * request: weights recomputed from the statistics after every single reward, with the
 * same `banditWeights` the router uses. It is the ideal a real loop, whose feedback
 * arrives late and whose weights refresh on a timer, is measured against.
 */
export function simulateInstantBandit(opts: InstantBanditOptions): string[] {
  const stats = new Map<string, ArmStats>(opts.arms.map((arm) => [arm, emptyStats()]));
  const chosen = new Array<string>(opts.requests);
  for (let t = 0; t < opts.requests; t++) {
    const weights = banditWeights(
      opts.algorithm,
      opts.arms.map((name) => ({ name, stats: stats.get(name) })),
      { rng: opts.rng, minShare: opts.minShare, rewardKind: opts.rewardKind, samples: opts.samples },
    );
    const arm = chooseArm(weights, opts.rng).variant;
    chosen[t] = arm;
    stats.set(arm, addReward(stats.get(arm)!, opts.reward(t, arm)));
  }
  return chosen;
}

/**
 * Expected (pseudo-)regret summed after each request: the best arm's expected reward
 * minus the chosen arm's. Using expectations instead of the rewards actually drawn
 * removes the noise of which requests happened to be easy, so two policies on the same
 * arms compare by their choices alone.
 */
export function cumulativeRegret(chosen: readonly string[], expected: Readonly<Record<string, number>>): number[] {
  const best = Math.max(...Object.values(expected));
  let total = 0;
  return chosen.map((arm) => {
    if (!Object.hasOwn(expected, arm)) throw new Error(`cumulativeRegret: no expected reward for arm "${arm}"`);
    total += best - expected[arm];
    return total;
  });
}
