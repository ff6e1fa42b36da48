import {
  type DeploymentSpec,
  type DeploymentStatus,
  type EvaluationPolicy,
  type PlanStepSpec,
  type PlanStrategySpec,
  type StrategySpec,
} from '@switchyard/contracts';
import { canaryShare } from './canary';
import type { Weights } from './weights';

/** A plan's bandit step floors each arm at this share unless it says otherwise. */
export const PLAN_BANDIT_MIN_SHARE = 0.05;

/** A plan's current step, as its rollout status says. */
export function currentStep(plan: PlanStrategySpec, status: DeploymentStatus = {}): { index: number; step: PlanStepSpec } {
  const index = status.step ?? 0;
  return { index, step: plan.steps[index] };
}

/**
 * What a plan serves at step `index`: the strategy of that step, over the primary and
 * the candidate. A pause step holds the traffic of the step before it (the primary
 * alone before any); the promote step serves the candidate alone until the controller
 * writes it as `single`.
 */
export function stepStrategy(plan: PlanStrategySpec, index: number): Exclude<StrategySpec, PlanStrategySpec> {
  const { primary, candidate, pairWithPrimary } = plan;
  const { shadow, canary, bandit, promote } = plan.steps[index];
  if (shadow) return { type: 'shadow', primary, shadows: [candidate] };
  if (canary !== undefined) return { type: 'canary', primary, canary: candidate, percent: canary, ...(pairWithPrimary && { pairWithPrimary }) };
  if (bandit) return { type: 'bandit', algorithm: bandit.algorithm, minShare: bandit.minShare ?? PLAN_BANDIT_MIN_SHARE };
  if (promote) return { type: 'single', variant: candidate };
  // A pause.
  return index > 0 ? stepStrategy(plan, index - 1) : { type: 'single', variant: primary };
}

/**
 * The spec as the router serves it: a plan becomes its current step's strategy (its
 * status's step), over its
 * primary and candidate only; any other spec is served as it is. The same code paths
 * then serve a plan as every other strategy.
 */
export function servingSpec(spec: DeploymentSpec): DeploymentSpec {
  if (spec.strategy.type !== 'plan') return spec;
  const arms = new Set([spec.strategy.primary, spec.strategy.candidate]);
  return {
    ...spec,
    variants: spec.variants.filter((variant) => arms.has(variant.name)),
    strategy: stepStrategy(spec.strategy, currentStep(spec.strategy, spec.status).index),
  };
}

/**
 * The share of requests each variant is set to answer under `strategy` (a plan: the
 * current step of `status`), as the router assigns them (a canary percent at its bucket
 * resolution); `undefined` for a bandit, whose shares move with its weights. An
 * evaluation's policy is read the same way (`targetProbabilities`).
 */
export function configuredShares(strategy: StrategySpec | EvaluationPolicy, status: DeploymentStatus = {}): Weights | undefined {
  switch (strategy.type) {
    case 'single':
      return { [strategy.variant]: 1 };
    case 'shadow':
      return { [strategy.primary]: 1 };
    case 'canary': {
      const share = canaryShare(strategy.percent);
      return { [strategy.primary]: 1 - share, [strategy.canary]: share };
    }
    case 'plan':
      return configuredShares(stepStrategy(strategy, currentStep(strategy, status).index));
    case 'bandit':
    case 'contextual':
      return undefined;
  }
}
