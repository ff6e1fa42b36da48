// The regret bench's oracle (an in-memory bandit, instant or with a real loop's delays, and its regret), not something a service runs: it lives with the bench.
import type { BanditAlgorithm } from '@switchyard/contracts';
import { addReward, ArmStats, banditWeights, chooseArm, emptyStats, type RewardKind, type Rng, type Weights } from '@switchyard/strategies';

export interface BanditSimulationOptions {
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
  /**
   * Per request t, how many rewards the weights it is drawn from had taken in: those of
   * requests 0 to known(t) − 1, as a real loop's snapshot had counted them; the weights are
   * recomputed whenever that number changes. By default every reward is known before the
   * next request (known(t) = t). @default (t) => t
   */
  known?: (t: number) => number;
}

/**
 * The arm a bandit chooses for each request, with the same `banditWeights` the router
 * uses. By default every reward is known before the next request and the weights are
 * recomputed after every single reward: the ideal a real loop, whose feedback arrives
 * late and whose weights are snapshots, is measured against. `known` gives the same
 * bandit a real loop's schedule (which rewards each request's weights had counted), so
 * what the loop's delays alone cost can be told apart from a defect of the loop.
 */
export function simulateBandit(opts: BanditSimulationOptions): string[] {
  const known = opts.known ?? ((t: number) => t);
  const stats = new Map<string, ArmStats>(opts.arms.map((arm) => [arm, emptyStats()]));
  const chosen = new Array<string>(opts.requests);
  let counted = 0;
  let weights: Weights | undefined;
  for (let t = 0; t < opts.requests; t++) {
    // Only rewards of requests already served can be known, and counted ones stay counted.
    const target = Math.min(known(t), t);
    if (!weights || target > counted) {
      for (; counted < target; counted++) stats.set(chosen[counted], addReward(stats.get(chosen[counted])!, opts.reward(counted, chosen[counted])));
      weights = banditWeights(
        opts.algorithm,
        opts.arms.map((name) => ({ name, stats: stats.get(name) })),
        { rng: opts.rng, minShare: opts.minShare, rewardKind: opts.rewardKind, samples: opts.samples },
      );
    }
    chosen[t] = chooseArm(weights, opts.rng).variant;
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
