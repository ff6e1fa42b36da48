import type { DeploymentSpec } from '@switchyard/contracts';
import { assignCanary, canaryShare } from './canary';
import { servingSpec } from './plan';
import type { Rng } from './rng';
import { alignWeights, chooseArm, fallbackArm, Weights } from './weights';

export interface SelectContext {
  /** Keeps a unit (user, session) on one side of a canary. */
  unitKey: string;
  rng: Rng;
  /** The bandit's current weights; left out (not computed yet), every arm gets the same share. */
  weights?: Weights;
}

export interface Selection {
  variant: string;
  /** The probability this variant was chosen with, for off-policy evaluation. */
  probability: number;
  /** Variants to mirror the request to; their answers are logged, never returned. */
  shadows: string[];
  /** Who answers if `variant` fails; absent when nobody should (single, shadow, canary primary). */
  fallback?: string;
}

/** Which variant answers one request under the deployment's strategy. */
export function selectVariant(spec: DeploymentSpec, ctx: SelectContext): Selection {
  const strategy = spec.strategy;
  switch (strategy.type) {
    case 'single':
      return { variant: strategy.variant, probability: 1, shadows: [] };
    case 'shadow':
      return { variant: strategy.primary, probability: 1, shadows: [...strategy.shadows] };
    case 'canary': {
      const share = canaryShare(strategy.percent);
      return assignCanary(spec.name, ctx.unitKey, strategy.percent) === 'canary'
        ? // A paired canary: the primary answers the canary's requests too, as a shadow (never returned).
          { variant: strategy.canary, probability: share, shadows: strategy.pairWithPrimary ? [strategy.primary] : [], fallback: strategy.primary }
        : { variant: strategy.primary, probability: 1 - share, shadows: [] };
    }
    case 'bandit': {
      const weights = alignWeights(
        ctx.weights,
        spec.variants.map((variant) => variant.name),
      );
      const choice = chooseArm(weights, ctx.rng);
      const fallback = fallbackArm(weights, choice.variant);
      return { ...choice, shadows: [], ...(fallback !== undefined && { fallback }) };
    }
    case 'plan':
      return selectVariant(servingSpec(spec), ctx);
    default: {
      const unknown: never = strategy;
      throw new Error(`unknown strategy type ${JSON.stringify((unknown as { type: unknown }).type)}`);
    }
  }
}
