import { type DeploymentSpec, type DeploymentStatus, GUARDRAIL_DEFAULTS, type Guardrails, type StrategySpec } from '@switchyard/contracts';
import { LATENCY_BUCKETS_MS, splitKey } from './report';
import { ArmRecord, type Observed, reconcileRollout, RolloutState, withDecision } from './rollout';
import { flaggerAnswer, rolloutVerdict, Verdict } from './verdict';

const GUARDRAILS: Guardrails = { ...GUARDRAIL_DEFAULTS, minSamples: 100, onPass: 'promote' };

const NOW = new Date('2026-01-01T00:00:00Z');
const canary: StrategySpec = { type: 'canary', primary: 'v1', canary: 'v2', percent: 50 };

function spec(strategy: StrategySpec, guardrails: Partial<Guardrails> | null = {}, version = 1, status: DeploymentStatus = {}): DeploymentSpec {
  return {
    name: 'churn',
    version,
    updatedAt: NOW.toISOString(),
    variants: ['v1', 'v2'].map((name) => ({ name, url: 'http://127.0.0.1:9000', model: name, protocol: 'v2' as const, timeoutMs: 1000, retries: 0 })),
    strategy,
    reward: { type: 'match' },
    ...(guardrails && { guardrails: { ...GUARDRAILS, ...guardrails } }),
    status,
  };
}

/** An arm with `pairs` binary rewards at `rate`, as many requests answered at ~4 ms. */
function arm(pairs: number, rate: number): ArmRecord {
  const sum = Math.round(pairs * rate);
  const latencyBuckets = LATENCY_BUCKETS_MS.map((_, i) => (i === 2 ? pairs : 0));
  const propensity = { sum: 0, sumSq: 0, skipped: 0 };
  return {
    rewards: { count: pairs, sum, sumSq: sum },
    requests: pairs,
    errors: 0,
    latencyBuckets,
    fallbacks: 0,
    split: { requests: pairs, fallbacks: 0, propensity },
  };
}

/** `arms` as the controller reads them: counts from the report, rewards as the cohort the current step served. */
function observed(deployment: DeploymentSpec, arms: Record<string, ArmRecord>): Observed {
  const key = splitKey(deployment.version, deployment.status?.step);
  return {
    arms: Object.fromEntries(Object.entries(arms).map(([name, { rewards: _, ...counts }]) => [name, counts])),
    cohorts: Object.entries(arms).map(([arm, { rewards }]) => ({ arm, key, servedFrom: 0, servedBefore: 0, stats: rewards })),
  };
}

/**
 * One pass of the rollout controller as `RolloutReconciler` stores it: the state, and a
 * decision recorded with the spec or status it wrote (`toVersion` still unknown when
 * `settled` is false, as between the write and its publication).
 */
function pass(deployment: DeploymentSpec, state: RolloutState | undefined, arms: Record<string, ArmRecord>, settled = true) {
  const step = reconcileRollout(deployment, state, observed(deployment, arms), NOW)!;
  const decision = step.decision;
  if (!decision) return { spec: deployment, state: step.state };
  const written = decision.strategy ? deployment.version + 1 : deployment.version;
  const judged = withDecision(step.state, {
    action: decision.action,
    reason: decision.reason,
    at: NOW.toISOString(),
    fromVersion: deployment.version,
    toVersion: decision.strategy && !settled ? null : written,
    ...(decision.status && { wroteStatus: true as const }),
  });
  const next: DeploymentSpec = decision.strategy
    ? { ...deployment, version: written, strategy: decision.strategy, status: {} }
    : { ...deployment, status: { ...deployment.status, ...decision.status } };
  return { spec: next, state: judged };
}

describe(rolloutVerdict.name, () => {
  it('says continue while a canary gathers pairs, then promote once the controller promoted it', () => {
    const deployment = spec(canary);
    const started = pass(deployment, undefined, {});
    expect(rolloutVerdict(started.spec, started.state)).toEqual({
      decision: 'continue',
      reason: 'waiting for minSamples 100 labelled pairs per arm: v2 has 0, v1 0',
      step: null,
      evidence: started.state.evidence,
    });
    for (const settled of [false, true]) {
      const promoted = pass(deployment, started.state, { v1: arm(1000, 0.7), v2: arm(1000, 0.9) }, settled);
      expect(promoted.spec.strategy).toEqual({ type: 'single', variant: 'v2' });
      const verdict = rolloutVerdict(promoted.spec, promoted.state);
      expect(verdict).toMatchObject({ decision: 'promote', step: null, evidence: { delta: expect.any(Number), n: { v1: 1000, v2: 1000 } } });
      expect(verdict.reason).toBe(promoted.state.lastDecision!.reason);
    }
  });

  it('says rollback for a canary the controller rolled back, and for one it failed but only paused on (onFail: pause)', () => {
    const worse = { v1: arm(1000, 0.9), v2: arm(1000, 0.7) };
    const rolledBack = pass(spec(canary), pass(spec(canary), undefined, {}).state, worse);
    expect(rolledBack.spec.strategy).toEqual({ type: 'single', variant: 'v1' });
    expect(rolloutVerdict(rolledBack.spec, rolledBack.state)).toMatchObject({ decision: 'rollback', evidence: { n: { v1: 1000, v2: 1000 } } });

    const pausing = spec(canary, { onFail: 'pause' });
    const failed = pass(pausing, pass(pausing, undefined, {}).state, worse);
    expect(failed.spec.strategy).toEqual(canary);
    expect(rolloutVerdict(failed.spec, failed.state).decision).toBe('rollback');
  });

  it('says promote for a canary that passed while the spec holds (onPass: hold)', () => {
    const holding = spec(canary, { onPass: 'hold' });
    const passed = pass(holding, pass(holding, undefined, {}).state, { v1: arm(1000, 0.7), v2: arm(1000, 0.9) });
    expect(passed.spec.strategy).toEqual(canary);
    expect(rolloutVerdict(passed.spec, passed.state).decision).toBe('promote');
  });

  it('says continue for a new version the controller has not judged, whatever it judged before', () => {
    const deployment = spec(canary);
    const failed = pass(deployment, pass(deployment, undefined, {}).state, { v1: arm(1000, 0.9), v2: arm(1000, 0.7) });
    // An operator PUTs a canary with another percent (version 3): a new subject.
    const edited = spec({ ...canary, percent: 10 }, {}, 3);
    expect(rolloutVerdict(edited, failed.state)).toEqual({
      decision: 'continue',
      reason: 'rev 3 not judged yet: waiting for the controller',
      step: null,
      evidence: null,
    });
    expect(rolloutVerdict(edited, undefined).decision).toBe('continue');
    // The same canary restored after its rollback: the old verdict was acted on, the controller will start afresh.
    const restored = spec(canary, {}, 3);
    expect(rolloutVerdict(restored, failed.state)).toMatchObject({ decision: 'continue', reason: 'rev 3 not judged yet: waiting for the controller' });
    // Its next pass judges only what version 3 served: the pairs so far were served under version 1.
    const again = reconcileRollout(restored, failed.state, observed(deployment, { v1: arm(1000, 0.9), v2: arm(1000, 0.7) }), NOW)!;
    expect(rolloutVerdict(restored, again.state).decision).toBe('continue');
  });

  it('says pause where nothing is compared: a single nobody decided on, a strategy without guardrails', () => {
    expect(rolloutVerdict(spec({ type: 'single', variant: 'v1' }), undefined)).toMatchObject({
      decision: 'pause',
      reason: 'churn serves v1 alone, not put there by a rollout decision: nothing is compared',
    });
    expect(rolloutVerdict(spec(canary, null), undefined)).toMatchObject({
      decision: 'pause',
      reason: 'churn runs canary without guardrails: the rollout controller judges nothing',
    });
    // A rollback the controller wrote, then an operator's own single (version 3): not the controller's.
    const deployment = spec(canary);
    const rolledBack = pass(deployment, pass(deployment, undefined, {}).state, { v1: arm(1000, 0.9), v2: arm(1000, 0.7) });
    expect(rolloutVerdict({ ...rolledBack.spec, version: 3, strategy: { type: 'single', variant: 'v2' } }, rolledBack.state).decision).toBe('pause');
  });

  it('says pause on an inconclusive comparison and a sample ratio mismatch', () => {
    const capped = spec(canary, { maxSamples: 200 });
    const inconclusive = pass(capped, pass(capped, undefined, {}).state, { v1: arm(250, 0.8), v2: arm(250, 0.8) });
    expect(inconclusive.state.status).toBe('inconclusive');
    expect(rolloutVerdict(inconclusive.spec, inconclusive.state).decision).toBe('pause');

    const deployment = spec(canary);
    const skewed = { v1: { ...arm(1000, 0.8), split: { ...arm(900, 0.8).split } }, v2: { ...arm(1000, 0.8), split: { ...arm(100, 0.8).split } } };
    const mismatch = pass(deployment, pass(deployment, undefined, {}).state, skewed);
    expect(rolloutVerdict(mismatch.spec, mismatch.state)).toMatchObject({ decision: 'pause', reason: expect.stringContaining('sample ratio mismatch') });
  });

  describe('on a plan', () => {
    const plan: StrategySpec = { type: 'plan', primary: 'v1', candidate: 'v2', steps: [{ canary: 50 }, { pause: {} }, { promote: true }] };
    const better = { v1: arm(1000, 0.7), v2: arm(1000, 0.9) };

    it('gives the step and says continue through the steps, pause at an operator pause, promote at the end', () => {
      const deployment = spec(plan, null);
      const first = pass(deployment, undefined, {});
      expect(rolloutVerdict(first.spec, first.state)).toMatchObject({
        decision: 'continue',
        step: 1,
        reason: expect.stringMatching(/^step 1 of 3 \(canary\): /),
      });

      // The gate passes: the status moves to step 2, an open pause, which the controller has not judged.
      const advanced = pass(first.spec, first.state, better);
      expect(advanced.spec.status).toEqual({ step: 1, paused: true });
      expect(rolloutVerdict(advanced.spec, advanced.state)).toEqual({
        decision: 'pause',
        reason: 'step 2 of 3 (pause) is paused; resume to go on',
        step: 2,
        evidence: null,
      });

      const resumed = { ...advanced.spec, status: { step: 1 } };
      expect(rolloutVerdict(resumed, advanced.state)).toMatchObject({
        decision: 'continue',
        step: 2,
        reason: 'step 2 of 3 (pause): not judged yet: waiting for the controller',
      });
      const promoting = pass(resumed, advanced.state, better);
      expect(promoting.spec.status).toEqual({ step: 2 });
      const promoted = pass(promoting.spec, promoting.state, better);
      expect(promoted.spec.strategy).toEqual({ type: 'single', variant: 'v2' });
      expect(rolloutVerdict(promoted.spec, promoted.state)).toMatchObject({ decision: 'promote', step: null, reason: expect.stringMatching(/^step 3 of 3/) });
    });

    it('says rollback once a gate failed', () => {
      const deployment = spec(plan, null);
      const failed = pass(deployment, pass(deployment, undefined, {}).state, { v1: arm(1000, 0.9), v2: arm(1000, 0.7) });
      expect(failed.spec.strategy).toEqual({ type: 'single', variant: 'v1' });
      expect(rolloutVerdict(failed.spec, failed.state)).toMatchObject({ decision: 'rollback', reason: expect.stringMatching(/^step 1 of 3 \(canary\): /) });
    });
  });
});

describe(flaggerAnswer.name, () => {
  const verdict = (decision: Verdict['decision']): Verdict => ({ decision, reason: '', step: null, evidence: null });

  it('lets traffic grow while gathering and at promote, promotes only at promote, rolls back only at rollback', () => {
    const table = (['continue', 'promote', 'rollback', 'pause'] as const).map((decision) => [
      decision,
      flaggerAnswer('confirm-traffic-increase', verdict(decision)),
      flaggerAnswer('confirm-promotion', verdict(decision)),
      flaggerAnswer('rollback', verdict(decision)),
    ]);
    expect(table).toEqual([
      ['continue', true, false, false],
      ['promote', true, true, false],
      ['rollback', false, false, true],
      ['pause', false, false, false],
    ]);
  });
});
