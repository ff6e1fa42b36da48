import type { DecisionEvidence, DeploymentSpec } from '@switchyard/contracts';
import { ENDED, judgesSubject, pausedPlanReasons, planPosition, type RolloutState, type RolloutStatus } from './rollout';

/** What the rollout controller's judgement says of what a deployment serves now. */
export interface Judgement {
  status: RolloutStatus;
  reasons: string[];
  evidence: DecisionEvidence | null;
  /** The controller's state it is read from, while that state judges what is served now (its `since`, its labelled pairs). */
  current?: RolloutState;
}

/** A paused or inconclusive plan step the spec no longer holds paused: an operator resumed it, the controller has not judged it since. */
const PAUSING: ReadonlySet<RolloutStatus> = new Set(['paused', 'inconclusive']);

/**
 * The one reading of the controller's `state` against `spec` that the API's `health`, its
 * `plan`/`guardrails` block, `status`, the dashboard and the verdict for Argo Rollouts and
 * Flagger all derive from, so they agree at every moment, operator actions included
 * (docs/operations.md, "Reading the state"):
 * - the state counts only while it is of this rev and subject (`judgesSubject`, the
 *   controller's rule); before the controller's next pass after a change (retry, rollback,
 *   a plan step) it is `waiting`;
 * - a plan the spec holds paused (an operator's pause, a pause step, the controller's own
 *   pause) is `paused` at once, with the reasons the controller's next pass writes
 *   (`pausedPlanReasons`); one resumed since the controller paused it is `waiting`;
 * - a `single` compares nothing: the last comparison's end (`passed`, `failed`,
 *   `inconclusive`, or else `done`), said to apply no more;
 * - `undefined` where nothing is ever judged: a strategy without guardrails (not a plan),
 *   or a `single` with neither guardrails nor a past comparison.
 */
export function judgementOf(spec: DeploymentSpec, state: RolloutState | undefined): Judgement | undefined {
  const strategy = spec.strategy;
  if (strategy.type === 'single') {
    if (!state && !spec.guardrails) return undefined;
    const ended = state && ENDED.has(state.status) ? state.status : 'done';
    const reason = `no candidate serves: ${strategy.variant} answers alone at rev ${spec.version}, so the guardrails judge nothing until a comparison is applied`;
    return { status: ended, reasons: [reason], evidence: state?.evidence ?? null };
  }
  if (strategy.type !== 'plan' && !spec.guardrails) return undefined;
  const current = state && state.specVersion === spec.version && judgesSubject(state, spec) ? state : undefined;
  const judged = (of: RolloutState): Judgement => ({ status: of.status, reasons: of.reasons ?? [], evidence: of.evidence ?? null, current: of });
  if (strategy.type !== 'plan') return current ? judged(current) : waiting(`rev ${spec.version} not judged yet: waiting for the controller`);
  const position = planPosition(strategy, spec.status);
  if (spec.status?.paused) {
    return { status: 'paused', reasons: pausedPlanReasons(current, position), evidence: current?.evidence ?? null, ...(current && { current }) };
  }
  if (current && !PAUSING.has(current.status)) return judged(current);
  return waiting(`${position}: ${current ? 'resumed, ' : ''}not judged yet: waiting for the controller`);
}

function waiting(reason: string): Judgement {
  return { status: 'waiting', reasons: [reason], evidence: null };
}
