import type { DeploymentSpec } from '@switchyard/contracts';
import { judgementOf } from './judgement';
import type { RolloutState } from './rollout';

/** A deployment's state in one word, as Argo Rollouts names its own (docs/operations.md, "STATUS"). */
export const HEALTH_STATES = ['Healthy', 'Progressing', 'Paused', 'Degraded'] as const;
export type HealthState = (typeof HEALTH_STATES)[number];

export interface DeploymentHealth {
  state: HealthState;
  /** One line: why. */
  reason: string;
}

/**
 * What `list` shows in its STATUS column, `GET /v1/deployments` answers as `health`, and
 * `status --wait` waits on, read from the controller's judgement of what is served now
 * (`judgementOf`, which the `plan`/`guardrails` block and the verdict read too):
 * - Healthy: nothing left to decide (single; a comparison that passed; a bandit, or a
 *   canary or shadow without guardrails, serving as set);
 * - Progressing: a comparison or a plan under way, or one the controller has not judged
 *   yet at this rev;
 * - Paused: a plan paused (by an operator, a pause step, or the controller on an
 *   inconclusive or mistrusted split), or a comparison the controller paused;
 * - Degraded: a comparison failed, or the spec in force is what a rollback or abort left
 *   while the candidate it ended is held (`status.held`) until a retry or another spec.
 */
export function deploymentHealth(spec: DeploymentSpec, state: RolloutState | undefined): DeploymentHealth {
  const strategy = spec.strategy;
  if (strategy.type === 'single') {
    const held = spec.status?.held;
    return held === undefined
      ? { state: 'Healthy', reason: `single on ${strategy.variant}` }
      : { state: 'Degraded', reason: `rev ${held} was rolled back or aborted: retry it, or apply another spec` };
  }
  const judgement = judgementOf(spec, state);
  if (!judgement) return { state: 'Healthy', reason: `${strategy.type} without guardrails: served as set` };
  const why = judgement.reasons.join('; ') || judgement.status;
  switch (judgement.status) {
    case 'failed':
      return { state: 'Degraded', reason: why };
    case 'paused':
    case 'inconclusive':
      return { state: 'Paused', reason: why };
    case 'passed':
    case 'done':
      // A plan's step that passed advances: under way until the last step promotes.
      return strategy.type === 'plan' ? { state: 'Progressing', reason: why } : { state: 'Healthy', reason: 'the candidate passed its guardrails' };
    default:
      // A bandit's comparison never ends: it runs, arm against arm, for as long as it serves.
      return strategy.type === 'bandit' && judgement.current ? { state: 'Healthy', reason: `bandit serving: ${why}` } : { state: 'Progressing', reason: why };
  }
}
