import type { DeploymentSpec } from '@switchyard/contracts';
import { currentStep } from './plan';
import { currentJudgement, type RolloutState } from './rollout';

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
 * `status --wait` waits on:
 * - Healthy: nothing left to decide (single; a comparison that passed; a bandit, or a
 *   canary or shadow without guardrails, serving as set);
 * - Progressing: a comparison or a plan under way, or one the controller has not judged
 *   yet at this rev;
 * - Paused: a plan paused (by an operator, a pause step, or the controller on an
 *   inconclusive or mistrusted split), or a comparison the controller paused;
 * - Degraded: a comparison failed, or the spec in force is what a rollback or abort left
 *   while the candidate it ended is held (`status.held`) until a retry or another spec.
 * A judgement counts only while it is of this rev and its subject (`currentJudgement`): one
 * of an earlier rev is what the controller's next pass replaces.
 */
export function deploymentHealth(spec: DeploymentSpec, judged: RolloutState | undefined): DeploymentHealth {
  const strategy = spec.strategy;
  const current = currentJudgement(spec, judged);
  if (strategy.type === 'single') {
    const held = spec.status?.held;
    return held === undefined
      ? { state: 'Healthy', reason: `single on ${strategy.variant}` }
      : { state: 'Degraded', reason: `rev ${held} was rolled back or aborted: retry it, or apply another spec` };
  }
  if (current?.status === 'failed') return { state: 'Degraded', reason: current.reasons?.join('; ') || 'the candidate failed its guardrails' };
  if (strategy.type === 'plan') {
    const { index } = currentStep(strategy, spec.status);
    const at = `step ${index + 1} of ${strategy.steps.length}`;
    if (spec.status?.paused) return { state: 'Paused', reason: `${at} paused: resume it to go on` };
    return { state: 'Progressing', reason: current ? `${at}: ${current.status}` : `${at}: waiting for the controller` };
  }
  if (!spec.guardrails) return { state: 'Healthy', reason: `${strategy.type} without guardrails: served as set` };
  if (!current) return { state: 'Progressing', reason: `waiting for the controller to judge rev ${spec.version}` };
  switch (current.status) {
    case 'paused':
    case 'inconclusive':
      return { state: 'Paused', reason: current.reasons?.join('; ') || current.status };
    case 'passed':
    case 'done':
      return { state: 'Healthy', reason: 'the candidate passed its guardrails' };
    default:
      // A bandit's comparison never ends: it runs, arm against arm, for as long as it serves.
      return strategy.type === 'bandit' ? { state: 'Healthy', reason: 'bandit serving, its arms judged' } : { state: 'Progressing', reason: current.status };
  }
}
