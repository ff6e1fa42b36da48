import type { Rng } from './rng';

/** Probability of each variant being chosen, by name; the values sum to 1. */
export type Weights = Record<string, number>;

export interface ArmChoice {
  variant: string;
  /** The chosen arm's weight: recorded with the prediction so it can be evaluated off-policy. */
  probability: number;
}

/** The floor on every arm's share when a bandit spec leaves `minShare` out. */
export const DEFAULT_MIN_SHARE = 0.01;

export function uniformWeights(names: readonly string[]): Weights {
  return Object.fromEntries(names.map((name) => [name, 1 / names.length]));
}

function isUsable(weight: number | undefined): weight is number {
  return typeof weight === 'number' && Number.isFinite(weight) && weight > 0;
}

/** Scaled to sum to 1; negative or non-finite weights count as 0; uniform when nothing is left. */
export function normalizeWeights(weights: Weights): Weights {
  const names = Object.keys(weights);
  const total = names.reduce((sum, name) => sum + (isUsable(weights[name]) ? weights[name] : 0), 0);
  if (!(total > 0)) return uniformWeights(names);
  return Object.fromEntries(names.map((name) => [name, isUsable(weights[name]) ? weights[name] / total : 0]));
}

/**
 * Every arm gets at least `minShare`, so no arm is starved of the feedback that could
 * prove it better. Arms below the floor are raised to it and the others shrink in
 * proportion to their weights; shrinking can push another arm under the floor, hence
 * the loop (at most one pass per arm).
 */
export function applyMinShare(weights: Weights, minShare: number = DEFAULT_MIN_SHARE): Weights {
  const normalized = normalizeWeights(weights);
  const names = Object.keys(normalized);
  if (!(minShare > 0)) return normalized;
  if (minShare * names.length >= 1) return uniformWeights(names);

  const floored = new Set<string>();
  let result: Weights = normalized;
  for (;;) {
    const free = names.filter((name) => !floored.has(name));
    const freeTotal = free.reduce((sum, name) => sum + normalized[name], 0);
    const share = 1 - minShare * floored.size;
    result = Object.fromEntries(
      names.map((name) => [name, floored.has(name) ? minShare : freeTotal > 0 ? (share * normalized[name]) / freeTotal : share / free.length]),
    );
    const under = free.filter((name) => result[name] < minShare);
    if (!under.length) return result;
    under.forEach((name) => floored.add(name));
  }
}

/**
 * The weights the router should sample for the arms a spec has now: arms that left the
 * spec are dropped, arms new to it get a uniform share (1/n) until the next refresh,
 * and the whole is renormalised. (`hasOwn`, not `in`: "constructor" is a valid variant name.)
 */
export function alignWeights(weights: Weights | undefined, names: readonly string[]): Weights {
  if (!names.length) return {};
  if (!weights) return uniformWeights(names);
  return normalizeWeights(Object.fromEntries(names.map((name) => [name, Object.hasOwn(weights, name) ? weights[name] : 1 / names.length])));
}

/** Samples one arm in proportion to its weight. */
export function chooseArm(weights: Weights, rng: Rng): ArmChoice {
  const arms = Object.entries(weights).filter(([, weight]) => isUsable(weight));
  if (!arms.length) throw new Error('chooseArm: no arm has a positive weight');
  const total = arms.reduce((sum, [, weight]) => sum + weight, 0);
  const target = rng() * total;
  let cumulative = 0;
  for (const [variant, weight] of arms) {
    cumulative += weight;
    if (target < cumulative) return { variant, probability: weight / total };
  }
  // Rounding can leave the target a hair above the last cumulative sum.
  const [variant, weight] = arms[arms.length - 1];
  return { variant, probability: weight / total };
}

/** The best-weighted arm other than `exclude`: who answers when the chosen arm fails. */
export function fallbackArm(weights: Weights, exclude: string): string | undefined {
  let best: string | undefined;
  for (const [name, weight] of Object.entries(weights)) {
    if (name !== exclude && (best === undefined || weight > weights[best])) best = name;
  }
  return best;
}
