import { type DeploymentSpec, GUARDRAIL_DEFAULTS, type StrategySpec } from '@switchyard/contracts';
import { deploymentHealth } from './deployment-health';
import { rolloutSubject, type RolloutState, type RolloutStatus } from './rollout';

const spec = (strategy: StrategySpec, extra: Partial<DeploymentSpec> = {}): DeploymentSpec => ({
  name: 'd',
  version: 3,
  updatedAt: '2026-12-07T00:00:00.000Z',
  variants: [
    { name: 'v1', url: 'http://127.0.0.1:9', protocol: 'v2', timeoutMs: 1000, retries: 0 },
    { name: 'v2', url: 'http://127.0.0.1:9', protocol: 'v2', timeoutMs: 1000, retries: 0 },
  ],
  strategy,
  reward: { type: 'match' },
  ...extra,
});
const guardrails = { ...GUARDRAIL_DEFAULTS, minSamples: 100 };
const canary = spec({ type: 'canary', primary: 'v1', canary: 'v2', percent: 10 }, { guardrails });
const plan = spec({ type: 'plan', primary: 'v1', candidate: 'v2', steps: [{ canary: 10 }, { promote: true }] });
const judged = (of: DeploymentSpec, status: RolloutStatus, extra: Partial<RolloutState> = {}): RolloutState => ({
  subject: rolloutSubject(of),
  specVersion: of.version,
  status,
  since: '2026-12-07T00:00:00.000Z',
  baseline: {},
  reasons: ['why'],
  ...extra,
});

describe(deploymentHealth.name, () => {
  it('is Healthy on single, Degraded while a rolled-back or aborted spec is held', () => {
    expect(deploymentHealth(spec({ type: 'single', variant: 'v1' }), undefined)).toEqual({ state: 'Healthy', reason: 'single on v1' });
    expect(deploymentHealth(spec({ type: 'single', variant: 'v1' }, { status: { held: 2 } }), judged(canary, 'failed'))).toEqual({
      state: 'Degraded',
      reason: 'rev 2 was rolled back or aborted: retry it, or apply another spec',
    });
  });

  it("follows a guarded canary's judgement of this rev: Progressing, Paused, Healthy once passed, Degraded once failed", () => {
    expect(deploymentHealth(canary, undefined).state).toBe('Progressing');
    expect(deploymentHealth(canary, judged(canary, 'running')).state).toBe('Progressing');
    expect(deploymentHealth(canary, judged(canary, 'inconclusive'))).toEqual({ state: 'Paused', reason: 'why' });
    expect(deploymentHealth(canary, judged(canary, 'paused')).state).toBe('Paused');
    expect(deploymentHealth(canary, judged(canary, 'passed')).state).toBe('Healthy');
    expect(deploymentHealth(canary, judged(canary, 'failed'))).toEqual({ state: 'Degraded', reason: 'why' });
    // A verdict on an earlier rev (a retried spec, the same subject) is the controller's to replace: not yet judged.
    expect(deploymentHealth(canary, judged(canary, 'failed', { specVersion: 2 }))).toEqual({
      state: 'Progressing',
      reason: 'rev 3 not judged yet: waiting for the controller',
    });
  });

  it('is Healthy for a canary without guardrails and a bandit that runs', () => {
    expect(deploymentHealth({ ...canary, guardrails: undefined }, undefined).state).toBe('Healthy');
    const bandit = spec({ type: 'bandit', algorithm: 'thompson' }, { guardrails });
    expect(deploymentHealth(bandit, judged(bandit, 'running')).state).toBe('Healthy');
    expect(deploymentHealth(bandit, judged(bandit, 'paused')).state).toBe('Paused');
  });

  it('shows a plan Progressing at its step, Paused when paused, Degraded when its step failed', () => {
    expect(deploymentHealth(plan, undefined)).toEqual({ state: 'Progressing', reason: 'step 1 of 2 (canary): not judged yet: waiting for the controller' });
    expect(deploymentHealth(plan, judged(plan, 'running'))).toEqual({ state: 'Progressing', reason: 'why' });
    const paused = { ...plan, status: { step: 1, paused: true } };
    expect(deploymentHealth(paused, judged(plan, 'passed'))).toEqual({ state: 'Paused', reason: 'step 2 of 2 (promote) is paused; resume to go on' });
    expect(deploymentHealth(plan, judged(plan, 'failed')).state).toBe('Degraded');
  });
});
