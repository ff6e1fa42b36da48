import {
  type DecisionEvidence,
  type DeploymentSpec,
  type Guardrails,
  planStepKind,
  type PlanStepKind,
  type PlanStepSpec,
  type StrategySpec,
} from '@switchyard/contracts';
import type { ArmStats } from './arm-stats';
import { type DeploymentHealth, deploymentHealth } from './deployment-health';
import { configuredShares, currentStep, servingSpec } from './plan';
import { buildReport, groupCounters, splitKey, type VariantReport } from './report';
import { judgementOf } from './judgement';
import { type RecentBucket, type RecentServed, recentServed } from './served-recent';
import type { DecisionSummary, RolloutState, RolloutStatus } from './rollout';
import { alignWeights, type Weights } from './weights';
import { contextualStrategy } from './contextual-policy';

/** What `GET /v1/deployments/{name}` is built from, besides the spec. */
export interface DeploymentViewInputs {
  counters: Record<string, string | number>;
  rewards: Record<string, ArmStats | undefined>;
  /** What the rollout controller last judged, if anything. */
  judged?: RolloutState;
  /** A bandit's stored weights, which the router serves; absent until the updater stored some. */
  weights?: { weights: Weights; computedAt: string; segments?: Record<string, Weights> };
  /** The recent served buckets of the window (`recentBuckets`), as `ReportStore.readRecent` reads them. */
  recent?: readonly RecentBucket[];
}

/** What the rollout controller judged, as shown; `waiting` alone before its first pass. */
export interface JudgementView {
  state: RolloutStatus;
  since?: string;
  judgedVersion?: number;
  reasons?: string[];
  evidence?: DecisionEvidence | null;
  /**
   * Labelled pairs per arm of what is judged (its cohort: served under the step or
   * comparison), `judged` and still `waiting` inside the label horizon.
   */
  labels?: { judged: Record<string, number>; waiting: Record<string, number>; units?: Record<string, number> };
  lastDecision?: DecisionSummary | null;
}

export interface PlanView extends JudgementView {
  /** 1-based. */
  step: number;
  of: number;
  kind: PlanStepKind | undefined;
  current: PlanStepSpec;
  paused: boolean;
  serving: StrategySpec;
  history: DecisionSummary[];
}

export interface DeploymentView extends Omit<DeploymentSpec, 'guardrails'> {
  /** Healthy, Progressing, Paused or Degraded, and why (`deploymentHealth`). */
  health: DeploymentHealth;
  report: Record<string, Partial<Record<'served' | 'shadow', VariantReport>>>;
  split: Record<string, number> | null;
  /**
   * The share of requests each variant answered since the current rev (and plan step) took
   * effect, beside `split`: over the deployment's whole life it would lag every change;
   * and over the last `RECENT_MINUTES` minutes (`recent`, `null` without a request in
   * them), which follows a weight that moves within a rev (a bandit's). `null` when neither
   * saw a request; `shares` is empty while no request was served under the rev.
   */
  served: { since: string; shares: Record<string, number>; requests: number; recent: RecentServed | null } | null;
  weightsAt?: string;
  /**
   * A contextual bandit's shares per segment (`"<feature>=<level>"`, one per level of each
   * categorical feature, `segmentWeights`) as of `weightsAt`: `split` is then what serves
   * the requests whose context cannot be read.
   */
  segments?: Record<string, Weights>;
  plan?: PlanView;
  /** The settings with the judgement (the settings gone once a rollback or promotion dropped them); a plan's: the settings. */
  guardrails?: Partial<Guardrails> & Partial<JudgementView>;
}

/**
 * The share of requests each variant of `spec` is set to answer, as the router assigns
 * them (`configuredShares`; a bandit: its stored `weights`, over the arms it serves);
 * `null` for a bandit with no weights stored yet. Every variant of the spec is named.
 */
export function setSplit(spec: DeploymentSpec, weights?: Weights): Record<string, number> | null {
  const shares =
    configuredShares(spec.strategy, spec.status) ??
    (weights &&
      alignWeights(
        weights,
        servingSpec(spec).variants.map((v) => v.name),
      ));
  return shares ? Object.fromEntries(spec.variants.map(({ name }) => [name, shares[name] ?? 0])) : null;
}

/**
 * What each variant of `spec` answered under its current rev and plan step (the report's
 * `requests@<splitKey>` counters, which the controller's split check reads too), as shares,
 * and over the last minutes (`recentServed` of the window's `recent` buckets).
 */
export function servedSplit(spec: DeploymentSpec, counters: Record<string, string | number>, recent: readonly RecentBucket[] = []): DeploymentView['served'] {
  const key = splitKey(spec.version, spec.status?.step);
  const answered: Record<string, number> = Object.fromEntries(spec.variants.map(({ name }) => [name, 0]));
  for (const { variant, role, measures } of groupCounters(counters).values())
    if (role === 'served' && variant in answered) answered[variant] += measures.get(`requests@${key}`) ?? 0;
  const requests = Object.values(answered).reduce((sum, n) => sum + n, 0);
  const lately = recentServed(spec, recent);
  if (!requests && !lately) return null;
  const since = spec.status?.step === undefined ? `rev ${spec.version}` : `rev ${spec.version} step ${spec.status.step + 1}`;
  const shares = requests ? Object.fromEntries(Object.entries(answered).map(([name, n]) => [name, n / requests])) : {};
  return { since, shares, requests, recent: lately };
}

/**
 * The deployment as `GET /v1/deployments/{name}` shows it: the spec, live statistics per
 * variant and role, the `split` it is set to, and the controller's judgement of what is
 * served now (`judgementOf`, which `health` and the verdict read too, so they agree): a
 * `plan` block for a plan (step i of n, paused, state, the step's gate evidence, the
 * history of transitions), else a `guardrails` block (the settings with the state, latest
 * evidence and last decision). On a `single` (after a promotion, a rollback or an abort)
 * the block says that no candidate serves, with what the last comparison ended with.
 */
export function deploymentView(spec: DeploymentSpec, { counters, rewards, judged, weights, recent }: DeploymentViewInputs): DeploymentView {
  const judgement = judgementOf(spec, judged);
  const current = judgement?.current;
  const shown: JudgementView | undefined = judgement && {
    state: judgement.status,
    ...(current && { since: current.since, judgedVersion: current.specVersion }),
    reasons: judgement.reasons,
    evidence: judgement.evidence,
    ...(current?.cohort && {
      labels: { judged: current.cohort.judged, waiting: current.cohort.waiting, ...(current.cohort.units && { units: current.cohort.units }) },
    }),
    lastDecision: judged?.lastDecision ?? null,
  };
  const { guardrails, ...settings } = spec;
  const view: DeploymentView = {
    ...settings,
    health: deploymentHealth(spec, judged),
    report: buildReport(counters, rewards),
    split: setSplit(spec, weights?.weights),
    served: servedSplit(spec, counters, recent),
    // When the weights it serves were computed: a bandit's split moves.
    ...(weights && servingSpec(spec).strategy.type === 'bandit' && { weightsAt: weights.computedAt }),
    ...(weights?.segments && contextualStrategy(spec.strategy) && { segments: weights.segments }),
  };
  const strategy = spec.strategy;
  if (strategy.type === 'plan') {
    const { index, step } = currentStep(strategy, spec.status);
    const plan: PlanView = {
      step: index + 1,
      of: strategy.steps.length,
      kind: planStepKind(step),
      current: step,
      paused: spec.status?.paused ?? false,
      serving: servingSpec(spec).strategy,
      ...shown!,
      history: judged?.history ?? [],
    };
    return { ...view, ...(guardrails && { guardrails }), plan };
  }
  return shown ? { ...view, guardrails: { ...guardrails, ...shown } } : view;
}
