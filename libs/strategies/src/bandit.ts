import type { BanditAlgorithm } from '@switchyard/contracts';
import type { BanditArm } from './bandit-arm';
import { DEFAULT_EPSILON, epsilonGreedyWeights } from './epsilon-greedy';
import type { RewardKind } from './reward';
import type { Rng } from './rng';
import { thompsonWeights } from './thompson';
import { ucb1Weights } from './ucb1';
import { applyMinShare, DEFAULT_MIN_SHARE, Weights } from './weights';

export interface BanditOptions {
  /** Randomness for Thompson's Monte Carlo; pass a seeded one to reproduce weights. */
  rng: Rng;
  /** Floor on every arm's share. @default 0.01 */
  minShare?: number;
  /** Exploration rate of epsilon-greedy. @default 0.1 */
  epsilon?: number;
  /** From the deployment's reward type: `rewardKindOf(spec.reward)`. */
  rewardKind: RewardKind;
  /** Thompson's Monte Carlo draws. @default 1000 */
  samples?: number;
  /** Arms held at the floor whatever their statistics (vetoed by a guardrail). */
  vetoed?: readonly string[];
}

/**
 * The probability with which each arm should be served, by the deployment's algorithm,
 * with the `minShare` floor applied; sums to 1. Computed periodically from the arm
 * statistics, then sampled per request with `chooseArm`.
 */
export function banditWeights(algorithm: BanditAlgorithm, arms: readonly BanditArm[], opts: BanditOptions): Weights {
  if (!arms.length) return {};
  return flooredWeights(rawWeights(algorithm, arms, opts), opts.minShare ?? DEFAULT_MIN_SHARE, opts.vetoed);
}

/**
 * An algorithm's raw weights with the `minShare` floor under every arm and the vetoed
 * arms held at it: what every bandit, context-free or contextual, finally samples from.
 */
export function flooredWeights(raw: Weights, minShare: number, vetoedArms: readonly string[] = []): Weights {
  const vetoed = new Set(vetoedArms.filter((arm) => Object.hasOwn(raw, arm)));
  if (!vetoed.size) return applyMinShare(raw, minShare);
  // Vetoed arms get the floor exactly; the free arms share the rest by the algorithm, with
  // their floor scaled so that it is still minShare of the whole.
  const rest = 1 - minShare * vetoed.size;
  const free = applyMinShare(Object.fromEntries(Object.entries(raw).filter(([arm]) => !vetoed.has(arm))), rest > 0 ? minShare / rest : 0);
  return Object.fromEntries(Object.keys(raw).map((arm) => [arm, vetoed.has(arm) ? minShare : rest * free[arm]]));
}

function rawWeights(algorithm: BanditAlgorithm, arms: readonly BanditArm[], opts: BanditOptions): Weights {
  switch (algorithm) {
    case 'thompson':
      return thompsonWeights(arms, opts.rng, opts.rewardKind, opts.samples);
    case 'ucb1':
      return ucb1Weights(arms, opts.rewardKind);
    case 'epsilon-greedy':
      return epsilonGreedyWeights(arms, opts.epsilon ?? DEFAULT_EPSILON);
    default:
      throw new Error(`unknown bandit algorithm ${JSON.stringify(algorithm satisfies never)}`);
  }
}
