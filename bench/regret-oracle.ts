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
  /** Weights recomputed before every `refreshEvery`-th request only, as a snapshot interval does. @default 1 */
  refreshEvery?: number;
  /** Requests served between a request and its reward's counting, as a pipeline's lag does; 0: counted before the next request. @default 0 */
  feedbackDelay?: number;
}

/**
 * The arm a bandit chooses for each request, with the same `banditWeights` the router
 * uses. By default every reward is known before the next request and the weights are
 * recomputed after every single reward: the ideal a real loop, whose feedback arrives
 * late and whose weights are snapshots, is measured against. `refreshEvery` and
 * `feedbackDelay` give the same bandit a real loop's delays, counted in requests, so
 * what those delays alone cost can be told apart from a defect of the loop.
 */
export function simulateBandit(opts: BanditSimulationOptions): string[] {
  const refreshEvery = opts.refreshEvery ?? 1;
  const feedbackDelay = opts.feedbackDelay ?? 0;
  const stats = new Map<string, ArmStats>(opts.arms.map((arm) => [arm, emptyStats()]));
  const chosen = new Array<string>(opts.requests);
  let counted = 0;
  let weights: Weights = {};
  for (let t = 0; t < opts.requests; t++) {
    for (; counted < t - feedbackDelay; counted++) stats.set(chosen[counted], addReward(stats.get(chosen[counted])!, opts.reward(counted, chosen[counted])));
    if (t % refreshEvery === 0) {
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
