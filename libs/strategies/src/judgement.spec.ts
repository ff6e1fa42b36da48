import { type DeploymentSpec, type DeploymentStatus, GUARDRAIL_DEFAULTS, type StrategySpec } from '@switchyard/contracts';
import { deploymentView } from './deployment-view';
import { judgementOf } from './judgement';
import { type DecisionSummary, reconcileRollout, type RolloutState, withDecision } from './rollout';
import { rolloutVerdict } from './verdict';

const NOW = new Date('2026-01-01T00:00:00Z');
const plan: StrategySpec = { type: 'plan', primary: 'v1', candidate: 'v2', steps: [{ canary: 50 }, { canary: 100 }, { promote: true }] };
const canary: StrategySpec = { type: 'canary', primary: 'v1', canary: 'v2', percent: 20 };
const guardrails = { ...GUARDRAIL_DEFAULTS, minSamples: 100 };

function spec(strategy: StrategySpec, version: number, status: DeploymentStatus = {}, withGuardrails = false): DeploymentSpec {
  return {
    name: 'churn',
    version,
    updatedAt: NOW.toISOString(),
    variants: ['v1', 'v2'].map((name) => ({ name, url: 'http://127.0.0.1:9000', model: name, protocol: 'v2' as const, timeoutMs: 1000, retries: 0 })),
    strategy,
    reward: { type: 'match' },
    ...(withGuardrails && { guardrails }),
    status,
  };
}

/** The controller's pass with nothing counted yet: its state, no decision. */
function pass(deployment: DeploymentSpec, state: RolloutState | undefined): RolloutState {
  const step = reconcileRollout(deployment, state, { arms: {}, cohorts: [] }, NOW)!;
  expect(step.decision).toBeUndefined();
  return step.state;
}

/** An operator's action as the router records it: the decision on the state, in the same step as the change. */
function operator(state: RolloutState, action: DecisionSummary['action'], fromVersion: number, toVersion: number): RolloutState {
  return withDecision(state, {
    action,
    reason: `${action} by an operator`,
    at: NOW.toISOString(),
    fromVersion,
    toVersion,
    ...(fromVersion === toVersion && { wroteStatus: true as const }),
  });
}

/** Every reading of one moment: what `status`, the dashboard (the view), `list` (health) and the verdict say. */
function readings(deployment: DeploymentSpec, state: RolloutState | undefined) {
  const view = deploymentView(deployment, { counters: {}, rewards: {}, judged: state });
  const block = view.plan ?? view.guardrails;
  return {
    state: block?.state,
    reasons: block?.reasons,
    health: view.health.state,
    healthReason: view.health.reason,
    verdict: rolloutVerdict(deployment, state).decision,
  };
}

describe(judgementOf.name, () => {
  it('gives one answer to health, the plan block and the verdict through pause, resume, retry and abort, before and after the controller passes', () => {
    const running = spec(plan, 1);
    let state = pass(running, undefined);
    expect(readings(running, state)).toMatchObject({ state: 'waiting', health: 'Progressing', verdict: 'continue' });
    state = { ...state, status: 'running', reasons: ['step 1 of 3 (canary): v2 has 40 of 100 labelled pairs'] };
    expect(readings(running, state)).toMatchObject({ state: 'running', health: 'Progressing', verdict: 'continue' });

    // An operator's pause writes the status (no new version): every reading is paused at once,
    // before the controller's pass (the defect: plan.state still said `running`).
    const paused = spec(plan, 1, { paused: true });
    state = operator(state, 'pause', 1, 1);
    const atOnce = readings(paused, state);
    expect(atOnce).toEqual({
      state: 'paused',
      reasons: ['step 1 of 3 (canary) is paused; resume to go on'],
      health: 'Paused',
      healthReason: 'step 1 of 3 (canary) is paused; resume to go on',
      verdict: 'pause',
    });
    // The controller's pass writes what was already shown.
    state = pass(paused, state);
    expect(readings(paused, state)).toEqual(atOnce);

    // Resumed: not judged since, so waiting everywhere (not `paused` in one field, Progressing in another).
    const resumed = spec(plan, 1, {});
    state = operator(state, 'resume', 1, 1);
    expect(readings(resumed, state)).toMatchObject({
      state: 'waiting',
      reasons: ['step 1 of 3 (canary): resumed, not judged yet: waiting for the controller'],
      health: 'Progressing',
      verdict: 'continue',
    });
    state = pass(resumed, state);
    expect(readings(resumed, state)).toMatchObject({ state: 'waiting', health: 'Progressing', verdict: 'continue' });
    expect(readings(resumed, state).reasons![0]).toMatch(/^step 1 of 3 \(canary\): /);

    // Aborted: a single on the primary, the plan held. The block says it no longer applies.
    const aborted = spec({ type: 'single', variant: 'v1' }, 2, { held: 1 });
    state = operator(state, 'abort', 1, 2);
    expect(readings(aborted, state)).toMatchObject({
      state: 'done',
      reasons: ['no candidate serves: v1 answers alone at rev 2, so the guardrails judge nothing until a comparison is applied'],
      health: 'Degraded',
      verdict: 'rollback',
    });

    // Retried: rev 3, the same plan at step 1 (the same subject as the state). Waiting for the
    // controller everywhere (the defect: plan.state said `running`, health "waiting").
    const retried = spec(plan, 3);
    state = operator({ ...state, status: 'running' }, 'retry', 2, 3);
    expect(readings(retried, state)).toMatchObject({
      state: 'waiting',
      reasons: ['step 1 of 3 (canary): not judged yet: waiting for the controller'],
      health: 'Progressing',
      verdict: 'continue',
    });
    expect(deploymentView(retried, { counters: {}, rewards: {}, judged: state }).plan).not.toHaveProperty('since');
  });

  it('keeps the reasons of a pause the controller made (an inconclusive gate) until and after its next pass', () => {
    const deployment = spec(plan, 1, { paused: true });
    const state: RolloutState = { ...pass(spec(plan, 1), undefined), status: 'inconclusive', reasons: ['the interval straddles 0 after 5000 pairs'] };
    const before = readings(deployment, state);
    expect(before).toMatchObject({ state: 'paused', reasons: ['the interval straddles 0 after 5000 pairs'], health: 'Paused', verdict: 'pause' });
    expect(readings(deployment, pass(deployment, state))).toEqual(before);
  });

  it('says a guardrails block no longer applies once a promotion leaves a single (the defect: "waiting for minSamples" after promote)', () => {
    const started = spec(canary, 1, {}, true);
    const state = { ...pass(started, undefined), reasons: ['v2 has 3 of 100 labelled pairs'] };
    expect(readings(started, state)).toMatchObject({
      state: 'waiting',
      reasons: ['v2 has 3 of 100 labelled pairs'],
      health: 'Progressing',
      verdict: 'continue',
    });

    const promoted = { ...spec({ type: 'single', variant: 'v2' }, 2, {}, true) };
    const after = operator(state, 'promote', 1, 2);
    expect(readings(promoted, after)).toMatchObject({
      state: 'done',
      reasons: ['no candidate serves: v2 answers alone at rev 2, so the guardrails judge nothing until a comparison is applied'],
      health: 'Healthy',
      verdict: 'promote',
    });
    // A failed comparison rolled back keeps its ending.
    expect(judgementOf(spec({ type: 'single', variant: 'v1' }, 2), { ...state, status: 'failed' })).toMatchObject({
      status: 'failed',
      reasons: [expect.stringMatching(/^no candidate serves/)],
    });
    // Nothing to say where nothing was ever compared.
    expect(judgementOf(spec({ type: 'single', variant: 'v1' }, 1), undefined)).toBeUndefined();
    expect(judgementOf(spec(canary, 1), state)).toBeUndefined();
  });

  it('is waiting on a canary the operator rolled back to, or changed (a new rev), until the controller judges that rev', () => {
    const first = spec(canary, 1, {}, true);
    const state = { ...pass(first, undefined), status: 'running' as const };
    const restored = spec(canary, 3, {}, true);
    expect(readings(restored, operator(state, 'rollback', 2, 3))).toMatchObject({
      state: 'waiting',
      reasons: ['rev 3 not judged yet: waiting for the controller'],
      health: 'Progressing',
      verdict: 'continue',
    });
  });
});
