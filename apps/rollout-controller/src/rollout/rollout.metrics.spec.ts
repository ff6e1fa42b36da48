import { register } from 'prom-client';
import type { DeploymentSpec } from '@switchyard/contracts';
import type { RolloutStep } from '@switchyard/strategies';
import { forgetJudgement, showJudgement } from './rollout.metrics';

/** The `switchyard_rollout_*` gauge series of `deployment`, as `name{labels} value` lines. */
async function series(deployment: string): Promise<string[]> {
  const text = await register.metrics();
  return text.split('\n').filter((line) => line.startsWith('switchyard_rollout_') && !line.includes('_total') && line.includes(`deployment="${deployment}"`));
}

const spec = (strategy: object) => ({ name: 'churn', version: 3, strategy, variants: [] }) as unknown as DeploymentSpec;
const canary = spec({ type: 'canary', primary: 'v1', canary: 'v2', percent: 50 });

const failed: RolloutStep = {
  state: {
    subject: 's',
    specVersion: 3,
    status: 'failed',
    since: '2026-12-07T00:00:00Z',
    baseline: {},
    evidence: { metric: 'reward', n: { v1: 4, v2: 4 }, mean: { v1: 0.75, v2: 0.25 }, delta: -0.5, low: -0.9, high: -0.1, alpha: 0.05, srmP: null },
  },
  judged: { v1: { count: 4, sum: 3, sumSq: 3 }, 'v2:shadow': { count: 4, sum: 1, sumSq: 1 } },
};

describe(showJudgement.name, () => {
  afterEach(() => forgetJudgement('churn'));

  it("shows the judgement: status, each arm's reward with its interval, the guardrail's bounds", async () => {
    showJudgement(canary, failed);
    const lines = await series('churn');
    expect(lines).toContain('switchyard_rollout_status{deployment="churn",status="failed"} 1');
    expect(lines).toContain('switchyard_rollout_status{deployment="churn",status="running"} 0');
    expect(lines).toContain('switchyard_rollout_reward{deployment="churn",variant="v1",role="served"} 0.75');
    expect(lines).toContain('switchyard_rollout_reward{deployment="churn",variant="v2",role="shadow"} 0.25');
    expect(lines).toContain('switchyard_rollout_reward_pairs{deployment="churn",variant="v2",role="shadow"} 4');
    expect(lines.some((line) => line.startsWith('switchyard_rollout_reward_low{deployment="churn",variant="v1",role="served"}'))).toBe(true);
    expect(lines).toContain('switchyard_rollout_guardrail_delta{deployment="churn"} -0.5');
    expect(lines).toContain('switchyard_rollout_guardrail_high{deployment="churn"} -0.1');
    expect(lines.some((line) => line.startsWith('switchyard_rollout_plan_step'))).toBe(false);
  });

  it("shows a plan's step from 1 and its number of steps", async () => {
    showJudgement({ ...spec({ type: 'plan', primary: 'v1', candidate: 'v2', steps: [{}, {}, {}] }), status: { step: 1 } }, failed);
    expect(await series('churn')).toEqual(
      expect.arrayContaining(['switchyard_rollout_plan_step{deployment="churn"} 2', 'switchyard_rollout_plan_steps{deployment="churn"} 3']),
    );
  });

  it('removes every series once there is nothing to judge (a rollback wrote single): the failed-guardrail alert clears', async () => {
    showJudgement(canary, failed);
    showJudgement(spec({ type: 'single', variant: 'v1' }), undefined);
    expect(await series('churn')).toEqual([]);
  });

  it('replaces the series of the last pass: an arm or a bound no longer judged goes', async () => {
    showJudgement(canary, failed);
    showJudgement(canary, { state: { ...failed.state, status: 'waiting', evidence: undefined }, judged: { v1: { count: 1, sum: 1, sumSq: 1 } } });
    const lines = await series('churn');
    expect(lines.filter((line) => line.includes('variant="v2"'))).toEqual([]);
    expect(lines.filter((line) => line.includes('guardrail'))).toEqual([]);
    // One pair: a mean, no interval yet.
    expect(lines).toContain('switchyard_rollout_reward{deployment="churn",variant="v1",role="served"} 1');
    expect(lines.some((line) => line.startsWith('switchyard_rollout_reward_low'))).toBe(false);
  });
});
