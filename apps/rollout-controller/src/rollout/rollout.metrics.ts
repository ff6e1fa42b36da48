import { Counter, Gauge } from 'prom-client';
import { type DeploymentSpec } from '@switchyard/contracts';
import { currentStep, meanConfidenceInterval, ROLLOUT_STATUSES, type RolloutStep } from '@switchyard/strategies';

export const rolloutMetrics = {
  decisions: new Counter({
    name: 'switchyard_rollout_decisions_total',
    help: 'Decisions taken and published, by deployment and action (rollback, promote, advance, pause, hold, veto)',
    labelNames: ['deployment', 'action'] as const,
  }),
  conflicts: new Counter({
    name: 'switchyard_rollout_conflicts_total',
    help: 'Decisions not written because the spec changed between the read and the write (re-judged on the next pass)',
    labelNames: ['deployment'] as const,
  }),
  passErrors: new Counter({
    name: 'switchyard_rollout_pass_errors_total',
    help: 'Passes over a deployment that failed (Redis or Kafka unreachable, or a bug); retried on the next pass',
    labelNames: ['deployment'] as const,
  }),
  cohortCellsPruned: new Counter({
    name: 'switchyard_rollout_cohort_cells_pruned_total',
    help: 'Cohort cells deleted because no comparison can judge them any more (split keys left behind, slots before a fresh start)',
    labelNames: ['deployment'] as const,
  }),
  owned: new Gauge({
    name: 'switchyard_rollout_owned_deployments',
    help: 'Deployments this controller holds the lease of',
  }),
};

/**
 * What the controller judged at its last pass over each deployment it holds the lease of,
 * as gauges: a deployment with nothing to judge (no guardrails and no plan, `single`, a
 * lease held by another controller, deleted) has no series here, so an alert on them
 * clears once the comparison it fired on is over (a rollback writes `single`).
 */
const judgement = {
  status: new Gauge({
    name: 'switchyard_rollout_status',
    help: `1 for the current status of each judged deployment (${ROLLOUT_STATUSES.join(', ')}), 0 for the others; absent once the deployment has nothing to judge (a rolled-back canary serves its primary alone)`,
    labelNames: ['deployment', 'status'] as const,
  }),
  reward: new Gauge({
    name: 'switchyard_rollout_reward',
    help: 'Mean reward of the labelled pairs the comparison judges, per variant and role (served, shadow)',
    labelNames: ['deployment', 'variant', 'role'] as const,
  }),
  rewardLow: new Gauge({
    name: 'switchyard_rollout_reward_low',
    help: 'Lower bound of the 95 % confidence interval of switchyard_rollout_reward (from 2 pairs)',
    labelNames: ['deployment', 'variant', 'role'] as const,
  }),
  rewardHigh: new Gauge({
    name: 'switchyard_rollout_reward_high',
    help: 'Upper bound of the 95 % confidence interval of switchyard_rollout_reward (from 2 pairs)',
    labelNames: ['deployment', 'variant', 'role'] as const,
  }),
  pairs: new Gauge({
    name: 'switchyard_rollout_reward_pairs',
    help: 'Labelled pairs the comparison judges, per variant and role',
    labelNames: ['deployment', 'variant', 'role'] as const,
  }),
  delta: new Gauge({
    name: 'switchyard_rollout_guardrail_delta',
    help: "Candidate − primary mean reward the guardrail judges (the decision evidence's delta)",
    labelNames: ['deployment'] as const,
  }),
  low: new Gauge({
    name: 'switchyard_rollout_guardrail_low',
    help: 'Lower bound of the always-valid interval of switchyard_rollout_guardrail_delta: the candidate passes when it is above −margin',
    labelNames: ['deployment'] as const,
  }),
  high: new Gauge({
    name: 'switchyard_rollout_guardrail_high',
    help: 'Upper bound of the always-valid interval of switchyard_rollout_guardrail_delta: the candidate fails when it is below 0',
    labelNames: ['deployment'] as const,
  }),
  planStep: new Gauge({
    name: 'switchyard_rollout_plan_step',
    help: "A plan's current step, from 1",
    labelNames: ['deployment'] as const,
  }),
  planSteps: new Gauge({
    name: 'switchyard_rollout_plan_steps',
    help: "A plan's number of steps",
    labelNames: ['deployment'] as const,
  }),
};

type Labels = Record<string, string>;
/** The label sets set for each deployment at its last pass, so the next one removes those it no longer sets. */
const exported = new Map<string, { gauge: Gauge; labels: Labels }[]>();

/** Shows `step`, the controller's judgement of `spec` at this pass; none (undefined) removes the deployment's series. */
export function showJudgement(spec: DeploymentSpec, step: RolloutStep | undefined): void {
  forgetJudgement(spec.name);
  if (!step) return;
  const series: { gauge: Gauge; labels: Labels }[] = [];
  const set = (gauge: Gauge, labels: Labels, value: number | null | undefined) => {
    if (value === null || value === undefined || !Number.isFinite(value)) return;
    gauge.set(labels, value);
    series.push({ gauge, labels });
  };
  const deployment = { deployment: spec.name };
  for (const status of ROLLOUT_STATUSES) set(judgement.status, { ...deployment, status }, status === step.state.status ? 1 : 0);
  for (const [arm, stats] of Object.entries(step.judged ?? {})) {
    const shadow = arm.endsWith(':shadow');
    const labels = { ...deployment, variant: shadow ? arm.slice(0, -':shadow'.length) : arm, role: shadow ? 'shadow' : 'served' };
    set(judgement.pairs, labels, stats.count);
    if (!stats.count) continue;
    set(judgement.reward, labels, stats.sum / stats.count);
    const interval = meanConfidenceInterval(stats);
    set(judgement.rewardLow, labels, interval?.low);
    set(judgement.rewardHigh, labels, interval?.high);
  }
  const evidence = step.state.evidence;
  set(judgement.delta, deployment, evidence?.delta);
  set(judgement.low, deployment, evidence?.low);
  set(judgement.high, deployment, evidence?.high);
  if (spec.strategy.type === 'plan') {
    set(judgement.planStep, deployment, currentStep(spec.strategy, spec.status).index + 1);
    set(judgement.planSteps, deployment, spec.strategy.steps.length);
  }
  exported.set(spec.name, series);
}

/** Removes the series of a deployment this controller does not judge (any more). */
export function forgetJudgement(deployment: string): void {
  for (const { gauge, labels } of exported.get(deployment) ?? []) gauge.remove(labels);
  exported.delete(deployment);
}

/** The deployments with series, for removing those no longer listed. */
export function shownDeployments(): string[] {
  return [...exported.keys()];
}
