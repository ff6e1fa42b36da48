import type { DeploymentSpec, DeploymentStatus, Guardrails } from '@switchyard/contracts';
import { LATENCY_BUCKETS_MS, splitKey } from './report';
import { ArmRecord, armCounts, reconcileRollout, rolloutSubject, RolloutState, RolloutStep, splitCounts, withDecision } from './rollout';

const GUARDRAILS: Guardrails = {
  metric: 'reward',
  alpha: 0.05,
  minSamples: 100,
  maxSamples: 20000,
  margin: 0.01,
  marginUnit: 'reward',
  onFail: 'rollback',
  onPass: 'hold',
  maxErrorRateIncrease: 0.02,
  maxLatencyRatio: 2,
};

function spec(strategy: DeploymentSpec['strategy'], guardrails: Partial<Guardrails> | null = {}, version = 1, status: DeploymentStatus = {}): DeploymentSpec {
  return {
    name: 'churn',
    version,
    updatedAt: '2026-01-01T00:00:00.000Z',
    variants: ['v1', 'v2', 'v3'].map((name) => ({ name, url: 'http://127.0.0.1:9000', model: name, protocol: 'v2' as const, timeoutMs: 1000, retries: 0 })),
    strategy,
    reward: { type: 'match' },
    ...(guardrails && { guardrails: { ...GUARDRAILS, ...guardrails } }),
    status,
  };
}

/** An arm with `pairs` binary rewards at `rate`, `requests` served at ~4 ms, `errors` of them failed. */
function arm(pairs: number, rate: number, requests = pairs, errors = 0, latencyBucket = 2): ArmRecord {
  const sum = Math.round(pairs * rate);
  const latencyBuckets = LATENCY_BUCKETS_MS.map((_, i) => (i === latencyBucket ? requests - errors : 0));
  return { rewards: { count: pairs, sum, sumSq: sum }, requests, errors, latencyBuckets, fallbacks: 0, split: { requests, fallbacks: 0, propensity: NO_SUMS } };
}

const NO_SUMS = { sum: 0, sumSq: 0, skipped: 0 };

/** `record` with a bandit's split: `served` requests under the version judged, every one chosen with `logged` probability. */
function logged(record: ArmRecord, served: number, logged: number): ArmRecord {
  return { ...record, split: { requests: served, fallbacks: 0, propensity: { sum: served / logged, sumSq: served / logged ** 2, skipped: 0 } } };
}

const NOW = new Date('2026-01-01T00:00:00Z');

/**
 * A pass over `records`: their counts, and their labelled pairs as served under `key`
 * (by default the version and step `deployment` is at), long before `now`.
 */
function judge(
  deployment: DeploymentSpec,
  previous: RolloutState | undefined,
  records: Record<string, ArmRecord>,
  now = NOW,
  key = splitKey(deployment.version, deployment.status?.step),
): RolloutStep | undefined {
  const arms = Object.fromEntries(Object.entries(records).map(([arm, { rewards: _, ...counts }]) => [arm, counts]));
  const cohorts = Object.entries(records).map(([arm, { rewards }]) => ({ arm, key, servedFrom: 0, servedBefore: 0, stats: rewards }));
  return reconcileRollout(deployment, previous, { arms, cohorts }, now);
}

/** `record`'s counts without its labelled pairs. */
const unlabelled = ({ rewards: _, ...counts }: ArmRecord) => counts;
const canary = { type: 'canary' as const, primary: 'v1', canary: 'v2', percent: 50 };

/** The state after a first pass on empty counts: the comparison starts from zero. */
function started(deployment: DeploymentSpec): RolloutState {
  return judge(deployment, undefined, {}, NOW)!.state;
}

describe(reconcileRollout.name, () => {
  it('judges nothing without guardrails, nor a single strategy', () => {
    expect(judge(spec(canary, null), undefined, {}, NOW)).toBeUndefined();
    expect(judge(spec({ type: 'single', variant: 'v1' }), undefined, {}, NOW)).toBeUndefined();
  });

  it('starts a comparison from the report counts it first sees, deciding nothing', () => {
    const counts = { v1: arm(0, 0.9, 5000), v2: arm(0, 0.5, 5000) };
    const sut = judge(spec(canary), undefined, counts, NOW)!;
    expect(sut.decision).toBeUndefined();
    expect(sut.state).toMatchObject({
      status: 'waiting',
      specVersion: 1,
      since: NOW.toISOString(),
      baseline: { v1: unlabelled(counts.v1), v2: unlabelled(counts.v2) },
      cohort: { keys: ['1'], judged: {}, waiting: {} },
    });
  });

  it('counts requests since the comparison started, and judges the pairs its own cohort served, not those of the version before', () => {
    const deployment = spec(canary, {}, 2);
    const first = judge(deployment, undefined, { v1: arm(0, 0.9, 5000), v2: arm(0, 0.5, 5000) }, NOW)!.state;
    // 5000 pairs each served under version 1, whose labels came in while version 2 serves.
    const late = { arm: 'v2', key: '1', servedFrom: 0, servedBefore: 0, stats: { count: 5000, sum: 0, sumSq: 0 } };
    const cohort = { v1: arm(50, 0.9, 5050), v2: arm(50, 0.5, 5050) };
    const sut = reconcileRollout(
      deployment,
      first,
      {
        arms: { v1: unlabelled(cohort.v1), v2: unlabelled(cohort.v2) },
        cohorts: [late, ...Object.entries(cohort).map(([arm, { rewards }]) => ({ arm, key: '2', servedFrom: 0, servedBefore: 0, stats: rewards }))],
      },
      NOW,
    )!;
    expect(sut.decision).toBeUndefined();
    expect(sut.state.status).toBe('waiting');
    expect(sut.state.evidence!.n).toEqual({ v2: 50, v1: 50 });
    expect(sut.state.cohort).toEqual({ keys: ['2'], judged: { v1: 50, v2: 50 }, waiting: { v1: 0, v2: 0 } });
  });

  it('rolls a clearly worse canary back to its primary, with the evidence', () => {
    const deployment = spec(canary);
    const sut = judge(deployment, started(deployment), { v1: arm(1000, 0.9), v2: arm(1000, 0.7) }, NOW)!;
    expect(sut.state.status).toBe('failed');
    expect(sut.decision).toMatchObject({ action: 'rollback', candidate: 'v2', primary: 'v1', strategy: { type: 'single', variant: 'v1' } });
    const evidence = sut.decision!.evidence;
    expect(evidence).toMatchObject({ metric: 'reward', n: { v1: 1000, v2: 1000 }, mean: { v1: 0.9, v2: 0.7 }, alpha: 0.05 });
    expect(evidence.delta).toBeCloseTo(-0.2, 12);
    expect(evidence.high!).toBeLessThan(0);
    expect(evidence.srmP!).toBeGreaterThan(0.001);
  });

  it('only pauses when onFail says so, and promotes a clearly better canary when onPass says so', () => {
    const pausing = spec(canary, { onFail: 'pause' });
    const paused = judge(pausing, started(pausing), { v1: arm(1000, 0.9), v2: arm(1000, 0.7) }, NOW)!;
    expect(paused.decision).toMatchObject({ action: 'pause' });
    expect(paused.decision!.strategy).toBeUndefined();

    const promoting = spec(canary, { onPass: 'promote' });
    const promoted = judge(promoting, started(promoting), { v1: arm(3000, 0.7), v2: arm(3000, 0.9) }, NOW)!;
    expect(promoted.state.status).toBe('passed');
    expect(promoted.decision).toMatchObject({ action: 'promote', strategy: { type: 'single', variant: 'v2' } });
  });

  it('fails a canary whose error rate is up, however good its rewards', () => {
    const deployment = spec(canary);
    const sut = judge(deployment, started(deployment), { v1: arm(1000, 0.8, 1000, 0), v2: arm(1000, 0.8, 1000, 200) }, NOW)!;
    expect(sut.decision).toMatchObject({ action: 'rollback' });
    expect(sut.decision!.reason).toMatch(/error/i);
  });

  it('pauses on a sample ratio mismatch instead of trusting the comparison', () => {
    const deployment = spec({ ...canary, percent: 10 });
    const sut = judge(deployment, started(deployment), { v1: arm(1000, 0.9), v2: arm(1000, 0.7) }, NOW)!;
    expect(sut.state.status).toBe('paused');
    expect(sut.decision).toMatchObject({ action: 'pause' });
    expect(sut.decision!.reason).toMatch(/sample ratio mismatch/);
    expect(sut.decision!.evidence.srmP!).toBeLessThan(0.001);
  });

  it('checks a sticky split on distinct units where the joiner counts them: heavy units are no mismatch (issue #24)', () => {
    const deployment = spec({ ...canary, percent: 10 });
    // 1 000 units split 100 / 900, as a 10 % canary should; the canary's units happen to send 3× the requests.
    const units = (record: ArmRecord, n: number): ArmRecord => ({ ...record, split: { ...record.split, units: n } });
    const sticky = { v1: units(arm(1000, 0.8, 2700), 900), v2: units(arm(300, 0.8, 900), 100) };
    const sut = judge(deployment, started(deployment), sticky, NOW)!;
    expect(sut.decision?.action).not.toBe('pause');
    expect(sut.state.evidence!.srmP!).toBeGreaterThan(0.001);
    expect(sut.state.cohort!.units).toEqual({ v1: 900, v2: 100 });
    // The same requests counted as requests (a report without unit counts) look like a 25 % split.
    const requests = judge(deployment, started(deployment), { v1: arm(1000, 0.8, 2700), v2: arm(300, 0.8, 900) }, NOW)!;
    expect(requests.decision).toMatchObject({ action: 'pause', reason: expect.stringMatching(/900 of 3600 requests/) });
    // A broken split is still caught on units.
    const broken = judge(deployment, started(deployment), { v1: units(arm(1000, 0.8, 2700), 700), v2: units(arm(300, 0.8, 900), 300) }, NOW)!;
    expect(broken.decision).toMatchObject({ action: 'pause', reason: expect.stringMatching(/300 of 1000 units/) });
  });

  it('clusters the judged rewards by unit when the cohort cells carry unit sums', () => {
    const deployment = spec({ ...canary, percent: 50 });
    const records = { v1: arm(1000, 0.8), v2: arm(1000, 0.75) };
    const independent = judge(deployment, started(deployment), records, NOW)!.state.evidence!;
    // 20 units per arm of 50 rewards each, all of a unit's rewards alike (S_u = 50 or 0): far
    // less information than 1 000 independent rewards. Σn² = 20·50², ΣS² = 50·ΣS_u, ΣnS = 50·ΣS_u.
    const cohorts = Object.entries(records).map(([name, { rewards }]) => ({
      arm: name,
      key: '1',
      servedFrom: 0,
      servedBefore: 0,
      stats: rewards,
      units: { units: 20, countSq: 20 * 50 * 50, sumSq: 50 * rewards.sum, countSum: 50 * rewards.sum },
    }));
    const arms = Object.fromEntries(Object.entries(records).map(([name, record]) => [name, unlabelled(record)]));
    const clustered = reconcileRollout(deployment, started(deployment), { arms, cohorts }, NOW)!.state.evidence!;
    expect(clustered.high! - clustered.low!).toBeGreaterThan(3 * (independent.high! - independent.low!));
  });

  it('decides once: a finished comparison stays finished until its subject changes', () => {
    const deployment = spec(canary, { onFail: 'pause' });
    const first = judge(deployment, started(deployment), { v1: arm(1000, 0.9), v2: arm(1000, 0.7) }, NOW)!;
    const withDecision: RolloutState = { ...first.state, lastDecision: { action: 'pause', reason: '', at: NOW.toISOString(), fromVersion: 1, toVersion: 1 } };
    const again = judge(spec(canary, { onFail: 'pause' }, 2), withDecision, { v1: arm(2000, 0.9), v2: arm(2000, 0.7) }, NOW)!;
    expect(again.decision).toBeUndefined();
    expect(again.state.status).toBe('failed');

    // Version 3 has served nothing yet: its split counts and its cohort are its own.
    const unsplit = (record: ArmRecord): ArmRecord => ({ ...record, split: { requests: 0, fallbacks: 0, propensity: NO_SUMS } });
    const edited = judge(
      spec({ ...canary, percent: 30 }, { onFail: 'pause' }, 3),
      withDecision,
      { v1: unsplit(arm(0, 0.9, 2000)), v2: unsplit(arm(0, 0.7, 2000)) },
      NOW,
    )!;
    expect(edited.state).toMatchObject({ status: 'waiting', specVersion: 3, cohort: { keys: ['3'], judged: {}, waiting: {} } });
    expect(edited.state.baseline.v1.requests).toBe(2000);
  });

  it('starts afresh when a spec with guardrails comes back after one it rolled back', () => {
    const deployment = spec(canary);
    const failed = judge(deployment, started(deployment), { v1: arm(1000, 0.9), v2: arm(1000, 0.7) }, NOW)!.state;
    const rolledBack: RolloutState = { ...failed, lastDecision: { action: 'rollback', reason: '', at: NOW.toISOString(), fromVersion: 1, toVersion: 2 } };
    // An operator restores the canary (version 3): same subject, but the old verdict was acted on, on version 1's pairs.
    const sut = judge(spec(canary, {}, 3), rolledBack, { v1: arm(1200, 0.9), v2: arm(1200, 0.7) }, NOW, '1')!;
    expect(sut.decision).toBeUndefined();
    expect(sut.state).toMatchObject({ status: 'waiting', specVersion: 3, cohort: { keys: ['3'] } });
  });

  it('judges a shadow on its shadow statistics and rolls back to the primary alone', () => {
    const deployment = spec({ type: 'shadow', primary: 'v1', shadows: ['v2', 'v3'] });
    const counts = { v1: arm(1000, 0.8), 'v2:shadow': arm(1000, 0.8), 'v3:shadow': arm(1000, 0.5) };
    const sut = judge(deployment, started(deployment), counts, NOW)!;
    expect(sut.decision).toMatchObject({ action: 'rollback', candidate: 'v3', primary: 'v1', strategy: { type: 'single', variant: 'v1' } });
    expect(sut.decision!.evidence.srmP).toBeNull();
    expect(sut.decision!.evidence.n).toMatchObject({ 'v3:shadow': 1000, v1: 1000 });
  });

  /** A paired cell (`pairedArm`) of `variant` under split key '1', served in [from, from + 600). */
  const pairedCell = (variant: string, stats: { count: number; sum: number; sumSq: number }, servedFrom = 0) => ({
    arm: `${variant}:paired`,
    key: '1',
    servedFrom,
    servedBefore: servedFrom + 600,
    stats,
  });
  /** The arms' own cells of `records` under split key '1', long served. */
  const ownCells = (records: Record<string, ArmRecord>) =>
    Object.entries(records).map(([name, { rewards }]) => ({ arm: name, key: '1', servedFrom: 0, servedBefore: 0, stats: rewards }));
  const countsOf = (records: Record<string, ArmRecord>) => Object.fromEntries(Object.entries(records).map(([name, record]) => [name, unlabelled(record)]));

  it('judges a shadow on its paired differences with the primary when the updater kept them, and says so', () => {
    const deployment = spec({ type: 'shadow', primary: 'v1', shadows: ['v2'] });
    const records = { v1: arm(3000, 0.8), 'v2:shadow': arm(3000, 0.8) };
    const [arms, cohorts] = [countsOf(records), ownCells(records)];
    // The arms disagree on 0.2 % of the requests each way: the paired interval is narrow where the unpaired one is not.
    const paired = pairedCell('v2', { count: 3000, sum: 0, sumSq: 12 });
    const unpaired = reconcileRollout(deployment, started(deployment), { arms, cohorts }, NOW)!;
    expect(unpaired.decision).toBeUndefined();
    expect(unpaired.state.evidence).not.toHaveProperty('paired');

    const sut = reconcileRollout(deployment, started(deployment), { arms, cohorts: [...cohorts, paired] }, NOW)!;
    expect(sut.decision).toMatchObject({ action: 'hold', candidate: 'v2', evidence: { paired: true, delta: 0 } });
    expect(sut.decision!.evidence.high! - sut.decision!.evidence.low!).toBeLessThan(unpaired.state.evidence!.high! - unpaired.state.evidence!.low!);
    // The pairs are no arm of their own: the cohort counts show the arms' labelled pairs only.
    expect(Object.keys(sut.state.cohort!.judged).sort()).toEqual(['v1', 'v2:shadow']);

    // Too few pairs: unpaired, as before.
    const few = reconcileRollout(deployment, started(deployment), { arms, cohorts: [...cohorts, pairedCell('v2', { count: 10, sum: 0, sumSq: 0 })] }, NOW)!;
    expect(few.decision).toBeUndefined();
  });

  it('judges a step with a label horizon on the paired cells of the slots past it, and leaves the younger ones waiting', () => {
    const deployment = spec({ type: 'shadow', primary: 'v1', shadows: ['v2'] }, { labelHorizon: '1h' });
    const records = { v1: arm(3000, 0.8), 'v2:shadow': arm(3000, 0.8) };
    const now = new Date(NOW.getTime() + 10 * 3600_000);
    const young = Math.floor(now.getTime() / 1000) - 1200;
    // Past the horizon: the arms agree; within it, the shadow is far worse on every pair (its labels are not all in yet).
    const cohorts = [
      ...ownCells(records),
      pairedCell('v2', { count: 3000, sum: 0, sumSq: 12 }),
      pairedCell('v2', { count: 3000, sum: -3000, sumSq: 3000 }, young),
    ];
    const sut = reconcileRollout(deployment, started(deployment), { arms: countsOf(records), cohorts }, now)!;
    expect(sut.decision).toMatchObject({ action: 'hold', candidate: 'v2', evidence: { paired: true, delta: 0 } });
  });

  it("judges a paired canary on the primary's answers to the canary's requests, canary − primary, and says so", () => {
    const paired = { ...canary, pairWithPrimary: true };
    const records = { v1: arm(3000, 0.8), v2: arm(3000, 0.8), 'v1:shadow': arm(3000, 0.81) };
    const [arms, cohorts] = [countsOf(records), ownCells(records)];
    // The primary is right on 60 more of the canary's 3000 requests than the canary (d = primary − canary, as the updater keeps it).
    const primaryBetter = pairedCell('v1', { count: 3000, sum: 60, sumSq: 60 });
    const sut = reconcileRollout(spec(paired), started(spec(paired)), { arms, cohorts: [...cohorts, primaryBetter] }, NOW)!;
    expect(sut.decision).toMatchObject({ action: 'rollback', candidate: 'v2', primary: 'v1', evidence: { paired: true, delta: -0.02 } });
    expect(sut.decision!.evidence.n).toMatchObject({ v1: 3000, v2: 3000 });

    // The same cells under a canary that does not ask for pairs: judged on the two arms apart, which cannot tell yet.
    const unpaired = reconcileRollout(spec(canary), started(spec(canary)), { arms, cohorts: [...cohorts, primaryBetter] }, NOW)!;
    expect(unpaired.decision).toBeUndefined();
    expect(unpaired.state.evidence).not.toHaveProperty('paired');
    // Too few pairs: unpaired too.
    const few = reconcileRollout(
      spec(paired),
      started(spec(paired)),
      { arms, cohorts: [...cohorts, pairedCell('v1', { count: 50, sum: 50, sumSq: 50 })] },
      NOW,
    )!;
    expect(few.decision).toBeUndefined();
  });

  it('promotes a shadow that passes when onPass says so, and only holds it otherwise', () => {
    const counts = { v1: arm(3000, 0.7), 'v2:shadow': arm(3000, 0.9) };
    const shadow = { type: 'shadow' as const, primary: 'v1', shadows: ['v2'] };
    const promoting = spec(shadow, { onPass: 'promote' });
    const promoted = judge(promoting, started(promoting), counts, NOW)!;
    expect(promoted.decision).toMatchObject({ action: 'promote', candidate: 'v2', primary: 'v1', strategy: { type: 'single', variant: 'v2' } });
    expect(promoted.decision!.evidence.n).toMatchObject({ 'v2:shadow': 3000, v1: 3000 });
    expect(promoted.state.status).toBe('passed');

    const holding = spec(shadow);
    const held = judge(holding, started(holding), counts, NOW)!;
    expect(held.decision).toMatchObject({ action: 'hold', candidate: 'v2' });
    expect(held.decision!.strategy).toBeUndefined();
  });

  it('vetoes a bandit arm whose error rate fails against the best arm, keeping the guardrails', () => {
    const deployment = spec({ type: 'bandit', algorithm: 'thompson', minShare: 0.05 });
    const counts = { v1: arm(2000, 0.9), v2: arm(500, 0.8, 500, 0), v3: arm(500, 0.7, 800, 300) };
    const sut = judge(deployment, started(deployment), counts, NOW)!;
    expect(sut.decision).toMatchObject({ action: 'veto', candidate: 'v3', primary: 'v1', status: { vetoed: ['v3'] } });
    expect(sut.decision!.strategy).toBeUndefined();
    expect(sut.state.status).toBe('running');

    // Vetoed, it is not judged again; the veto changed no subject, so the evidence carries on.
    const vetoed = spec({ type: 'bandit', algorithm: 'thompson', minShare: 0.05 }, {}, 1, { vetoed: ['v3'] });
    const after = judge(vetoed, sut.state, counts, NOW)!;
    expect(after.decision).toBeUndefined();
    expect(after.state.baseline).toBe(sut.state.baseline);
  });

  const bandit = { type: 'bandit' as const, algorithm: 'thompson' as const, minShare: 0.05 };
  // Logged at 0.6 / 0.3 / 0.1: each arm's requests over its propensity is the 1000 served.
  const matching = { v1: logged(arm(600, 0.9), 600, 0.6), v2: logged(arm(300, 0.8), 300, 0.3), v3: logged(arm(100, 0.8), 100, 0.1) };
  // Logged the same, but served 700 / 250 / 50.
  const mismatched = { v1: logged(arm(700, 0.9), 700, 0.6), v2: logged(arm(250, 0.8), 250, 0.3), v3: logged(arm(50, 0.8), 50, 0.1) };

  it('checks a bandit against its logged propensities and pauses on a mismatch, with the evidence', () => {
    const deployment = spec(bandit);
    const fine = judge(deployment, started(deployment), matching, NOW)!;
    expect(fine.decision).toBeUndefined();
    expect(fine.state.status).toBe('running');
    expect(fine.state.evidence!.srmP).toBe(1);

    const sut = judge(deployment, started(deployment), mismatched, NOW)!;
    expect(sut.state.status).toBe('paused');
    expect(sut.decision).toMatchObject({ action: 'pause', candidate: 'v1' });
    expect(sut.decision!.strategy).toBeUndefined();
    expect(sut.decision!.reason).toMatch(/^sample ratio mismatch: the requests that chose v1, .* sum to 1167 against 1000 requests/);
    expect(sut.decision!.evidence.srmP!).toBeLessThan(0.001);
    // Paused, it decides nothing more, not even the veto an arm would have earned.
    const later = { ...mismatched, v3: logged(arm(50, 0.8, 800, 300), 50, 0.1) };
    expect(judge(deployment, sut.state, later, NOW)!.decision).toBeUndefined();
  });

  it('does not check a bandit without a floor, nor one whose log has propensities too small to weigh', () => {
    const floorless = spec({ ...bandit, minShare: 0 });
    expect(judge(floorless, started(floorless), mismatched, NOW)!.state).toMatchObject({ status: 'running', evidence: { srmP: null } });
    const deployment = spec(bandit);
    const skipped = {
      ...mismatched,
      v3: { ...mismatched.v3, split: { ...mismatched.v3.split, propensity: { ...mismatched.v3.split.propensity, skipped: 1 } } },
    };
    expect(judge(deployment, started(deployment), skipped, NOW)!.state.evidence!.srmP).toBeNull();
  });
});

describe('reconcileRollout on a plan', () => {
  const steps = [
    { shadow: { minSamples: 100 } },
    { canary: 5 },
    { pause: {} },
    { pause: { seconds: 60 } },
    { bandit: { algorithm: 'thompson' as const, minSamples: 400 } },
    { promote: true as const },
  ];
  const plan = { type: 'plan' as const, primary: 'v1', candidate: 'v2', steps };
  const planAt = (step: number, status: DeploymentStatus = {}, version = 1) => spec(plan, null, version, { step, ...status });

  it('judges with the default guardrails when the spec has none', () => {
    expect(judge(planAt(0), undefined, {}, NOW)!.state.status).toBe('waiting');
  });

  it('advances past a shadow step whose candidate is surely not worse, on its shadow statistics', () => {
    const deployment = planAt(0);
    const sut = judge(deployment, started(deployment), { v1: arm(3000, 0.7), 'v2:shadow': arm(3000, 0.9), v2: arm(5000, 0.1) }, NOW)!;
    expect(sut.decision).toMatchObject({ action: 'advance', status: { step: 1 } });
    expect(sut.decision!.strategy).toBeUndefined();
    expect(sut.decision!.reason).toMatch(/^step 1 of 6 \(shadow\)/);
    expect(sut.decision!.evidence.n).toMatchObject({ 'v2:shadow': 3000, v1: 3000 });
  });

  it('rolls back to the primary at a failing gate', () => {
    const deployment = planAt(1);
    const sut = judge(deployment, started(deployment), { v1: arm(5000, 0.9, 19000), v2: arm(1000, 0.7, 1000) }, NOW)!;
    expect(sut.decision).toMatchObject({ action: 'rollback', strategy: { type: 'single', variant: 'v1' } });
  });

  it('writes the status paused when advancing into an open pause, and advances once resumed', () => {
    const deployment = planAt(1);
    const sut = judge(deployment, started(deployment), { v1: arm(3800, 0.7), v2: arm(200, 0.9) }, NOW)!;
    expect(sut.decision).toMatchObject({ action: 'advance', status: { step: 2, paused: true } });

    const paused = planAt(2, { paused: true });
    const waiting = judge(paused, started(paused), {}, NOW)!;
    expect(judge(paused, waiting.state, {}, NOW)!).toMatchObject({ state: { status: 'paused' } });
    const resumed = judge(planAt(2), waiting.state, {}, NOW)!;
    expect(resumed.decision).toMatchObject({ action: 'advance', status: { step: 3 } });
    expect(resumed.decision!.status!.paused).toBeUndefined();
  });

  it('advances a timed pause once its seconds are over', () => {
    const deployment = planAt(3);
    const first = started(deployment);
    expect(judge(deployment, first, {}, new Date(NOW.getTime() + 30_000))!.decision).toBeUndefined();
    expect(judge(deployment, first, {}, new Date(NOW.getTime() + 61_000))!.decision).toMatchObject({ action: 'advance', status: { step: 4 } });
  });

  it("keeps a step's evidence across an operator's pause and resume", () => {
    const deployment = planAt(4);
    const first = started(deployment);
    const middle = judge(deployment, first, { v1: arm(50, 0.7), v2: arm(100, 0.9) }, NOW)!.state;
    const paused = judge(planAt(4, { paused: true }), middle, { v1: arm(50, 0.7), v2: arm(100, 0.9) }, NOW)!.state;
    expect(paused.status).toBe('paused');
    const resumed = judge(planAt(4), paused, { v1: arm(60, 0.7), v2: arm(400, 0.9) }, NOW)!;
    expect(resumed.state.baseline).toBe(first.baseline);
    // The bandit step's gate needs 400 pairs in all, then the comparison.
    expect(resumed.state.evidence!.n).toEqual({ v2: 400, v1: 60 });
  });

  it('promotes at the promote step, and is done', () => {
    const deployment = planAt(5);
    const sut = judge(deployment, started(deployment), {}, NOW)!;
    expect(sut.decision).toMatchObject({ action: 'promote', strategy: { type: 'single', variant: 'v2' } });
    expect(sut.state.status).toBe('done');
  });

  it('pauses the bandit step on a mismatch with its logged propensities, before its gate has its pairs', () => {
    const deployment = planAt(4);
    const fine = judge(deployment, started(deployment), { v1: logged(arm(50, 0.7), 500, 0.5), v2: logged(arm(100, 0.9), 500, 0.5) }, NOW)!;
    expect(fine.state).toMatchObject({ status: 'waiting', evidence: { srmP: 1 } });
    // Logged as 50/50, served 600/400.
    const sut = judge(deployment, started(deployment), { v1: logged(arm(50, 0.7), 600, 0.5), v2: logged(arm(100, 0.9), 400, 0.5) }, NOW)!;
    expect(sut.decision).toMatchObject({ action: 'pause', status: { paused: true } });
    expect(sut.decision!.reason).toMatch(/^step 5 of 6 \(bandit\): sample ratio mismatch/);
    expect(sut.decision!.evidence.srmP!).toBeLessThan(0.001);
  });

  it('pauses a canary step on a sample ratio mismatch', () => {
    const deployment = planAt(1);
    const sut = judge(deployment, started(deployment), { v1: arm(1000, 0.7), v2: arm(1000, 0.9) }, NOW)!;
    expect(sut.decision).toMatchObject({ action: 'pause', status: { paused: true } });
    expect(sut.decision!.strategy).toBeUndefined();
    expect(sut.state.status).toBe('paused');
  });

  it('judges afresh after a pause it wrote on an inconclusive gate, once resumed', () => {
    const deployment = { ...planAt(0), guardrails: { ...GUARDRAILS, maxSamples: 1000 } };
    const counts = { v1: arm(2000, 0.7), 'v2:shadow': arm(2000, 0.7) };
    const sut = judge(deployment, started(deployment), counts, NOW)!;
    expect(sut).toMatchObject({ state: { status: 'inconclusive' }, decision: { action: 'pause', status: { paused: true } } });
    const written = withDecision(sut.state, { action: 'pause', reason: '', at: NOW.toISOString(), fromVersion: 1, toVersion: 1, wroteStatus: true });
    const paused = judge({ ...deployment, status: { step: 0, paused: true } }, written, counts, NOW)!.state;
    // Its step, its cohort: only slots served from now on are judged.
    expect(paused).toMatchObject({
      status: 'paused',
      baseline: { v1: unlabelled(counts.v1), 'v2:shadow': unlabelled(counts['v2:shadow']) },
      cohort: { keys: ['1.0'], servedFrom: NOW.getTime() / 1000, judged: {} },
    });
  });
});

describe('reconcileRollout: labels count for the step that served them', () => {
  const plan = { type: 'plan' as const, primary: 'v1', candidate: 'v2', steps: [{ canary: 50 }, { canary: 50 }, { promote: true as const }] };
  const HOUR = 3600;
  const at = NOW.getTime() / 1000;
  const cell = (arm: string, key: string, servedBefore: number, count: number, rate: number) => {
    const sum = Math.round(count * rate);
    return { arm, key, servedFrom: servedBefore - 600, servedBefore, stats: { count, sum, sumSq: sum } };
  };
  /** Step 2 (canary 50 %) with `served` requests per arm under it. */
  const stepTwo = (guardrails: Partial<Guardrails> = {}) => spec(plan, guardrails, 1, { step: 1 });
  const requests = (served: number) => ({ v1: unlabelled(arm(0, 0, served)), v2: unlabelled(arm(0, 0, served)) });

  it("judges step 2 on its own cohort: step 1's late negatives of the primary, coming in during step 2, do not make a worse candidate pass", () => {
    const deployment = stepTwo();
    const first = reconcileRollout(deployment, undefined, { arms: requests(0), cohorts: [] }, NOW)!.state;
    const cohorts = [
      // Step 2's own pairs: the candidate 5 points worse.
      cell('v1', '1.1', at - HOUR, 2000, 0.9),
      cell('v2', '1.1', at - HOUR, 2000, 0.85),
      // Step 1's (its key is the version alone): the primary's negatives, labelled late, during step 2.
      cell('v1', '1', at - HOUR, 3000, 0),
    ];
    const sut = reconcileRollout(deployment, first, { arms: requests(2000), cohorts }, NOW)!;
    expect(sut.decision).toMatchObject({ action: 'rollback', candidate: 'v2' });
    expect(sut.decision!.evidence).toMatchObject({ n: { v1: 2000, v2: 2000 }, mean: { v1: 0.9, v2: 0.85 } });

    // The same late labels, summed into step 2 by when they came (the rule this replaces), make the primary look far worse.
    const byArrival = reconcileRollout(deployment, first, { arms: requests(2000), cohorts: cohorts.map((c) => ({ ...c, key: '1.1' })) }, NOW)!;
    expect(byArrival.decision).toMatchObject({ action: 'advance' });
  });

  it('judges only predictions served at least the label horizon ago, and counts the younger ones as waiting', () => {
    const deployment = stepTwo({ labelHorizon: '1h' });
    const first = reconcileRollout(deployment, undefined, { arms: requests(0), cohorts: [] }, NOW)!.state;
    const cohorts = [
      // Old enough: every label is in. The candidate is worse.
      cell('v1', '1.1', at - HOUR, 1500, 0.9),
      cell('v2', '1.1', at - HOUR, 1500, 0.8),
      // Served within the hour: only the quick (good) labels are in yet.
      cell('v1', '1.1', at - HOUR + 1, 300, 1),
      cell('v2', '1.1', at, 3000, 1),
    ];
    const sut = reconcileRollout(deployment, first, { arms: requests(4000), cohorts }, NOW)!;
    expect(sut.state.cohort).toEqual({ keys: ['1.1'], judged: { v1: 1500, v2: 1500 }, waiting: { v1: 300, v2: 3000 } });
    expect(sut.decision).toMatchObject({ action: 'rollback', evidence: { n: { v1: 1500, v2: 1500 } } });

    // Without a horizon the young, one-sided labels count, those of the slot still being served too, and hide how much worse the candidate is.
    const hasty = reconcileRollout(stepTwo(), undefined, { arms: requests(4000), cohorts: [...cohorts, cell('v2', '1.1', at + 300, 10, 1)] }, NOW)!;
    expect(hasty.decision?.action).not.toBe('rollback');
    expect(hasty.state.cohort).toMatchObject({ judged: { v1: 1800, v2: 4510 }, waiting: { v1: 0, v2: 0 } });
  });

  it('keeps judging the cohorts of earlier versions when a spec change keeps the comparison (a timeout)', () => {
    const first = reconcileRollout(spec(canary, {}, 1), undefined, { arms: {}, cohorts: [] }, NOW)!.state;
    const cohorts = [cell('v1', '1', at, 60, 0.9), cell('v2', '1', at, 60, 0.9), cell('v1', '2', at, 30, 0.9), cell('v1', '7', at, 500, 0.9)];
    const sut = reconcileRollout(spec(canary, {}, 2), first, { arms: {}, cohorts }, NOW)!;
    expect(sut.state.cohort).toEqual({ keys: ['1', '2'], judged: { v1: 90, v2: 60 }, waiting: { v1: 0, v2: 0 } });
  });
});

describe(rolloutSubject.name, () => {
  it("is the strategy, a plan's step and the guardrails: not a pause or a veto", () => {
    const plan = spec({ type: 'plan', primary: 'v1', candidate: 'v2', steps: [{ canary: 5 }, { promote: true }] }, {}, 1);
    expect(rolloutSubject({ ...plan, status: { paused: true } })).toBe(rolloutSubject(plan));
    expect(rolloutSubject({ ...plan, status: { step: 1 } })).not.toBe(rolloutSubject(plan));
    const bandit = spec({ type: 'bandit', algorithm: 'thompson' });
    expect(rolloutSubject({ ...bandit, status: { vetoed: ['v2'] } })).toBe(rolloutSubject(bandit));
  });
});

describe(armCounts.name, () => {
  it('reads the report counters into arms, a fallback counting as an error of the chosen arm', () => {
    const sut = armCounts({
      'v1:served:requests': '10',
      'v1:served:lat:2': '10',
      'v2:served:requests': '4',
      'v2:served:errors': '1',
      'v2:served:fallbacks': '2',
      'v2:shadow:requests': '3',
    });
    expect(sut.v1).toMatchObject({ requests: 10, errors: 0, fallbacks: 0 });
    expect(sut.v1.latencyBuckets[2]).toBe(10);
    expect(sut.v2).toMatchObject({ requests: 6, errors: 3, fallbacks: 2 });
    expect(sut['v2:shadow']).toMatchObject({ requests: 3 });
  });

  it('counts the split of one spec version only', () => {
    const counters = {
      'v1:served:requests': '900',
      'v1:served:requests@3': '90',
      'v1:served:requests@4': '40',
      'v2:served:requests@4': '8',
      'v2:served:fallbacks@4': '2',
    };
    const sut = armCounts(counters, 4);
    expect(sut.v1.split).toEqual({ requests: 40, fallbacks: 0, propensity: { sum: 0, sumSq: 0, skipped: 0 } });
    expect(sut.v2.split).toEqual({ requests: 8, fallbacks: 2, propensity: { sum: 0, sumSq: 0, skipped: 0 } });
  });

  it('counts the split of one plan step only: its steps share a spec version', () => {
    const counters = { 'v1:served:requests@4': '1900', 'v2:served:requests@4': '100', 'v1:served:requests@4.1': '150', 'v2:served:requests@4.1': '50' };
    const sut = armCounts(counters, splitKey(4, 1));
    expect([sut.v1.split.requests, sut.v2.split.requests]).toEqual([150, 50]);
    expect(armCounts(counters, splitKey(4)).v2.split.requests).toBe(100);
  });

  it("reads a version's inverse-propensity sums from their integer units", () => {
    const counters = {
      'v1:served:ipw@3': '999000000',
      'v1:served:ipw@4': '2500000',
      'v1:served:ipwSq@4': '6250',
      'v1:served:ipwSkipped@4': '1',
    };
    expect(armCounts(counters, 4).v1.split.propensity).toEqual({ sum: 2.5, sumSq: 6.25, skipped: 1 });
  });
});

describe(splitCounts.name, () => {
  const split = (requests: number, fallbacks: number, units?: number): ArmRecord['split'] => ({
    requests,
    fallbacks,
    propensity: NO_SUMS,
    ...(units !== undefined && { units }),
  });

  it('counts units under the arm the split chose, where counted', () => {
    expect(splitCounts('v2', split(30, 5, 9), 'v1', split(100, 0, 80))).toEqual({ assigned: { v2: 9, v1: 80 }, what: 'units' });
    expect(splitCounts('v2', split(30, 5), 'v1', split(100, 0, 80))).toEqual({ assigned: { v2: 0, v1: 80 }, what: 'units' });
  });

  it('else counts requests, moving the canary fallbacks its primary answered back to the canary', () => {
    expect(splitCounts('v2', split(30, 5), 'v1', split(100, 0))).toEqual({ assigned: { v2: 35, v1: 95 }, what: 'requests' });
  });

  it('reads the units counter of the split key judged', () => {
    const counters = { 'v1:served:requests@4': '10', 'v1:served:units@4': '7', 'v1:served:units@3': '99', 'v2:served:requests@4': '3' };
    expect(armCounts(counters, 4).v1.split.units).toBe(7);
    expect(armCounts(counters, 4).v2.split.units).toBeUndefined();
  });
});
