import { type DecisionEvidence, type DeploymentSpec, type FlaggerHook, planStepKind } from '@switchyard/contracts';
import { currentStep } from './plan';
import { currentJudgement, type DecisionSummary, type RolloutState, type RolloutStatus } from './rollout';

export const VERDICT_DECISIONS = ['continue', 'promote', 'rollback', 'pause'] as const;
export type VerdictDecision = (typeof VERDICT_DECISIONS)[number];

/**
 * What a deployment tool that drives pods (Argo Rollouts, Flagger) should do with its
 * candidate, as the rollout controller judged it: keep going, promote, roll back, or stop
 * for a human. Nothing is computed here: it is the controller's stored state, read.
 */
export interface Verdict {
  decision: VerdictDecision;
  reason: string;
  /** A plan's current step, 1-based (as `GET /v1/deployments/{name}` shows it); `null` for any other strategy. */
  step: number | null;
  /** The numbers the controller judged on; `null` before it judged what is served now. */
  evidence: DecisionEvidence | null;
}

/**
 * The judgement, not the deployment's own `onPass`/`onFail`: those say what Switchyard does
 * with its own spec (`hold` leaves a passed canary's split as it is), while the tool asking
 * here decides about its pods. A plan's step that passed advances to the next one.
 */
const DECISION_OF: Record<RolloutStatus, { comparison: VerdictDecision; plan: VerdictDecision }> = {
  waiting: { comparison: 'continue', plan: 'continue' },
  running: { comparison: 'continue', plan: 'continue' },
  passed: { comparison: 'promote', plan: 'continue' },
  done: { comparison: 'promote', plan: 'promote' },
  failed: { comparison: 'rollback', plan: 'rollback' },
  inconclusive: { comparison: 'pause', plan: 'pause' },
  paused: { comparison: 'pause', plan: 'pause' },
};

/** Whether `decision` wrote the spec version `version` (its `toVersion` is filled in once the write is published). */
function wroteVersion(decision: DecisionSummary, version: number): boolean {
  return decision.toVersion === null ? decision.fromVersion < version : decision.toVersion === version;
}

/**
 * The verdict on `spec` from the rollout controller's `state` (`RolloutStateStore`):
 * - `single` that a controller promotion or rollback wrote: that decision; any other
 *   `single` compares nothing, and neither does a strategy without guardrails: `pause`;
 * - a comparison the controller has not judged yet at this version (`currentJudgement`, its
 *   own rule): `continue`;
 * - a plan paused (by an operator or by an inconclusive gate): `pause`;
 * - else the controller's status, by `DECISION_OF`.
 */
export function rolloutVerdict(spec: DeploymentSpec, state: RolloutState | undefined): Verdict {
  const strategy = spec.strategy;
  if (strategy.type === 'single') {
    const last = state?.lastDecision;
    if (last && (last.action === 'promote' || last.action === 'rollback') && wroteVersion(last, spec.version)) {
      return { decision: last.action, reason: last.reason, step: null, evidence: state?.evidence ?? null };
    }
    return {
      decision: 'pause',
      reason: `${spec.name} serves ${strategy.variant} alone, not put there by a rollout decision: nothing is compared`,
      step: null,
      evidence: null,
    };
  }
  if (strategy.type !== 'plan' && !spec.guardrails) {
    return {
      decision: 'pause',
      reason: `${spec.name} runs ${strategy.type} without guardrails: the rollout controller judges nothing`,
      step: null,
      evidence: null,
    };
  }
  // At the version it last judged: until its next pass after a change, nothing is claimed
  // (a canary restored after its rollback has the same subject, but starts afresh).
  const judged = currentJudgement(spec, state);
  const reasons = judged?.reasons?.join('; ');
  const evidence = judged?.evidence ?? null;
  if (strategy.type === 'plan') {
    const { index, step } = currentStep(strategy, spec.status);
    const position = `step ${index + 1} of ${strategy.steps.length} (${planStepKind(step)})`;
    const verdict = (decision: VerdictDecision, fallback: string): Verdict => ({ decision, reason: reasons || fallback, step: index + 1, evidence });
    if (spec.status?.paused) return verdict('pause', `${position} is paused; resume to go on`);
    if (!judged) return verdict('continue', `${position}: not judged yet`);
    return verdict(DECISION_OF[judged.status].plan, `${position}: ${judged.status}`);
  }
  if (!judged) return { decision: 'continue', reason: `rev ${spec.version} not judged yet`, step: null, evidence: null };
  return { decision: DECISION_OF[judged.status].comparison, reason: reasons || judged.status, step: null, evidence };
}

/**
 * Flagger's answer to each hook (docs.flagger.app/usage/webhooks): `true` is HTTP 200.
 * A gate (confirm-traffic-increase, confirm-promotion) holds the canary while it gets
 * anything else, without counting a failed check; the rollback hook's 200 makes Flagger stop
 * the analysis and roll back. More traffic is allowed while the comparison gathers pairs.
 */
const FLAGGER_GO: Record<FlaggerHook, ReadonlySet<VerdictDecision>> = {
  'confirm-traffic-increase': new Set(['continue', 'promote']),
  'confirm-promotion': new Set(['promote']),
  rollback: new Set(['rollback']),
};

/** Whether Flagger's `hook` gets HTTP 200 under `verdict` (else 403). */
export function flaggerAnswer(hook: FlaggerHook, verdict: Verdict): boolean {
  return FLAGGER_GO[hook].has(verdict.decision);
}
