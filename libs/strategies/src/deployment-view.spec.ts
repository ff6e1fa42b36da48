import type { DeploymentSpec } from '@switchyard/contracts';
import { deploymentView, servedSplit, setSplit } from './deployment-view';
import type { RecentBucket } from './served-recent';
import { reconcileRollout } from './rollout';

const NOW = new Date('2026-01-01T00:00:00Z');
const GUARDRAILS = {
  metric: 'reward' as const,
  alpha: 0.05,
  minSamples: 100,
  maxSamples: 20000,
  margin: 0.01,
  marginUnit: 'reward' as const,
  onFail: 'rollback' as const,
  onPass: 'hold' as const,
  maxErrorRateIncrease: 0.02,
  maxLatencyRatio: 2,
};

function spec(strategy: DeploymentSpec['strategy'], extra: Partial<DeploymentSpec> = {}): DeploymentSpec {
  return {
    name: 'churn',
    version: 1,
    updatedAt: NOW.toISOString(),
    variants: ['v1', 'v2', 'v3'].map((name) => ({ name, url: 'http://127.0.0.1:9000', model: name, protocol: 'v2' as const, timeoutMs: 1000, retries: 0 })),
    strategy,
    reward: { type: 'match' },
    ...extra,
  };
}

const plan = { type: 'plan' as const, primary: 'v1', candidate: 'v2', steps: [{ shadow: {} }, { canary: 12.345 }, { promote: true as const }] };

describe(servedSplit.name, () => {
  it('counts only what each variant answered under the current rev and plan step, not over the whole life', () => {
    const counters = {
      'v1:served:requests': 1000,
      'v1:served:requests@1': 900,
      'v1:served:requests@2': 30,
      'v2:served:requests@2': 10,
      'v1:served:requests@2.1': 3,
      'v2:served:requests@2.1': 1,
      'v2:shadow:requests@2': 40,
    };
    expect(servedSplit(spec({ type: 'canary', primary: 'v1', canary: 'v2', percent: 25 }, { version: 2 }), counters)).toEqual({
      since: 'rev 2',
      shares: { v1: 0.75, v2: 0.25, v3: 0 },
      requests: 40,
      recent: null,
    });
    expect(servedSplit(spec(plan, { version: 2, status: { step: 1 } }), counters)).toEqual({
      since: 'rev 2 step 2',
      shares: { v1: 0.75, v2: 0.25, v3: 0 },
      requests: 4,
      recent: null,
    });
    expect(servedSplit(spec({ type: 'single', variant: 'v1' }, { version: 3 }), counters)).toBeNull();
  });

  it('adds the last minutes beside the rev: after a promotion the rev says 100 % at once, so do the minutes, not the whole life', () => {
    // Promoted to v2 at rev 3 a minute ago: the minutes before it were v1's.
    const promoted = spec({ type: 'single', variant: 'v2' }, { version: 3 });
    const counters = { 'v1:served:requests@2': 900, 'v2:served:requests@2': 100, 'v2:served:requests@3': 60 };
    // Newest minute first; `gone` is a variant the spec no longer has.
    const recent: RecentBucket[] = [{ v2: 70 }, { v1: 90, v2: 10 }, {}, {}, { v1: 30, gone: 5 }];
    expect(servedSplit(promoted, counters, recent)).toEqual({
      since: 'rev 3',
      shares: { v1: 0, v2: 1, v3: 0 },
      requests: 60,
      recent: { minutes: 5, shares: { v1: 0.6, v2: 0.4, v3: 0 }, requests: 200 },
    });
    // A rev with no request yet still shows the minutes before it.
    expect(servedSplit({ ...promoted, version: 4 }, counters, recent)).toMatchObject({ since: 'rev 4', shares: {}, requests: 0, recent: { requests: 200 } });
  });
});

describe(setSplit.name, () => {
  it('is the split as the router assigns it, every variant named: a canary percent at its bucket resolution', () => {
    expect(setSplit(spec({ type: 'canary', primary: 'v1', canary: 'v2', percent: 12.345 }))).toEqual({ v1: 1 - 0.1235, v2: 0.1235, v3: 0 });
    expect(setSplit(spec(plan, { status: { step: 1 } }))).toEqual({ v1: 1 - 0.1235, v2: 0.1235, v3: 0 });
  });

  it("is a bandit's stored weights over its arms, and null before any", () => {
    const bandit = spec({ type: 'bandit', algorithm: 'thompson' });
    expect(setSplit(bandit)).toBeNull();
    expect(setSplit(bandit, { v1: 0.5, v2: 0.3, v3: 0.2 })).toEqual({ v1: 0.5, v2: 0.3, v3: 0.2 });
  });
});

describe(deploymentView.name, () => {
  const counters = { 'v1:served:requests': 3, 'v1:served:lat:2': 3 };

  it('serves the split, the report and, for a bandit, when its weights were computed', () => {
    const bandit = spec({ type: 'bandit', algorithm: 'thompson' });
    const sut = deploymentView(bandit, { counters, rewards: {}, weights: { weights: { v1: 1, v2: 0, v3: 0 }, computedAt: 't1' } });
    expect(sut).toMatchObject({ name: 'churn', split: { v1: 1, v2: 0, v3: 0 }, weightsAt: 't1', report: { v1: { served: { requests: 3 } } } });
    expect(sut).not.toHaveProperty('guardrails');
  });

  it("shows a plan's current step, waiting until the controller judged that step (the controller's own rule)", () => {
    const atShadow = spec(plan);
    const judged = reconcileRollout(atShadow, undefined, { arms: {}, cohorts: [] }, NOW)!.state;
    expect(deploymentView(atShadow, { counters, rewards: {}, judged }).plan).toMatchObject({
      step: 1,
      of: 3,
      kind: 'shadow',
      state: 'waiting',
      since: judged.since,
    });

    // Advanced in its status, no new version: what was judged is the step before.
    const advanced = spec(plan, { status: { step: 1, paused: true } });
    const sut = deploymentView(advanced, { counters, rewards: {}, judged: { ...judged, status: 'passed' } }).plan;
    // Paused at once, as `health` says: not a `waiting` that contradicts it until the controller's next pass.
    expect(sut).toMatchObject({ step: 2, kind: 'canary', paused: true, state: 'paused', evidence: null, serving: { type: 'canary', percent: 12.345 } });
    expect(sut!.reasons).toEqual(['step 2 of 3 (canary) is paused; resume to go on']);
    expect(sut).not.toHaveProperty('since');
  });

  it('keeps the guardrails block once judged, after the guardrails went with a rollback', () => {
    const canary = spec({ type: 'canary', primary: 'v1', canary: 'v2', percent: 50 });
    const judged = {
      ...reconcileRollout({ ...canary, guardrails: { ...GUARDRAILS } }, undefined, { arms: {}, cohorts: [] }, NOW)!.state,
      status: 'failed' as const,
    };
    expect(deploymentView(spec({ type: 'single', variant: 'v1' }), { counters, rewards: {}, judged }).guardrails).toMatchObject({
      state: 'failed',
      reasons: [expect.stringMatching(/^no candidate serves: v1 answers alone/)],
    });
    expect(deploymentView(canary, { counters, rewards: {} })).not.toHaveProperty('guardrails');
  });
});
