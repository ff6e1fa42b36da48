import type { DecisionEvidence, DeploymentSpec, FlaggerHook } from '@switchyard/contracts';
import { judgementOf } from './judgement';
import { currentStep } from './plan';
import type { DecisionSummary, RolloutState, RolloutStatus } from './rollout';

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

/** What a decision that wrote a `single` tells the tool about its candidate: an operator's abort ended it, as a rollback does. */
const ENDING: Partial<Record<DecisionSummary['action'], VerdictDecision>> = { promote: 'promote', rollback: 'rollback', abort: 'rollback' };

/**
 * The verdict on `spec` from the rollout controller's `state` (`RolloutStateStore`):
 * - `single` that a promotion, a rollback or an abort (the controller's or an operator's)
 *   wrote: that decision; any other `single` compares nothing, and neither does a strategy
 *   without guardrails: `pause`;
 * - else the judgement of what is served now (`judgementOf`, which `health` and the
 *   `plan`/`guardrails` block read too): `continue` until the controller judged this rev,
 *   `pause` on a plan paused, else the controller's status, by `DECISION_OF`.
 */
export function rolloutVerdict(spec: DeploymentSpec, state: RolloutState | undefined): Verdict {
  const strategy = spec.strategy;
  if (strategy.type === 'single') {
    const last = state?.lastDecision;
    const ending = last && ENDING[last.action];
    if (last && ending && wroteVersion(last, spec.version)) {
      return { decision: ending, reason: last.reason, step: null, evidence: state?.evidence ?? null };
    }
    return {
      decision: 'pause',
      reason: `${spec.name} serves ${strategy.variant} alone, not put there by a rollout decision: nothing is compared`,
      step: null,
      evidence: null,
    };
  }
  const judgement = judgementOf(spec, state);
  if (!judgement) {
    return {
      decision: 'pause',
      reason: `${spec.name} runs ${strategy.type} without guardrails: the rollout controller judges nothing`,
      step: null,
      evidence: null,
    };
  }
  const reason = judgement.reasons.join('; ') || judgement.status;
  if (strategy.type === 'plan') {
    const step = currentStep(strategy, spec.status).index + 1;
    return { decision: DECISION_OF[judgement.status].plan, reason, step, evidence: judgement.evidence };
  }
  return { decision: DECISION_OF[judgement.status].comparison, reason, step: null, evidence: judgement.evidence };
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
