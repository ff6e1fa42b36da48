import type { DecisionAction, DecisionEvidence, DeploymentSpec, Guardrails, StrategySpec } from '@switchyard/contracts';
import { type ArmStats, emptyStats, mean, subtractStats } from './arm-stats';
import { type ArmEvidence, type GuardrailJudgement, judgeCandidate, operationalFailures } from './guardrails';
import { groupCounters, latencyBuckets } from './report';
import { statsArm } from './reward-stats';
import { sampleRatioMismatch, SRM_P_THRESHOLD } from './srm';

/**
 * What the rollout controller decides, as pure functions: it reads, calls
 * `reconcileRollout`, and writes what comes back. Level-triggered: every pass starts
 * from the stored spec and state, so a pass that runs twice or dies half-way leaves
 * nothing wrong behind.
 */

export const ROLLOUT_STATUSES = ['waiting', 'running', 'passed', 'failed', 'inconclusive', 'paused', 'done'] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];

const TERMINAL: ReadonlySet<RolloutStatus> = new Set(['passed', 'failed', 'inconclusive', 'paused', 'done']);

/** One arm's evidence, plus the fallbacks it caused (chosen, failed, answered by another variant). */
export interface ArmRecord extends ArmEvidence {
  fallbacks: number;
}

export interface DecisionSummary {
  action: DecisionAction;
  reason: string;
  at: string;
  fromVersion: number;
  /** `null` until the spec it wrote is known (the controller fills it in once written). */
  toVersion: number | null;
}

/** The controller's memory of one deployment's comparison. */
export interface RolloutState {
  /** What is compared (strategy and guardrails); when a spec changes it, the comparison starts over. */
  subject: string;
  specVersion: number;
  status: RolloutStatus;
  /** When the comparison started: only what was counted after it is judged. */
  since: string;
  baseline: Record<string, ArmRecord>;
  evidence?: DecisionEvidence;
  reasons?: string[];
  lastDecision?: DecisionSummary;
}

export interface RolloutDecision {
  action: DecisionAction;
  reason: string;
  candidate?: string;
  primary?: string;
  evidence: DecisionEvidence;
  /** The strategy to write, with compare-and-set on the judged version; absent when the spec stays as it is. */
  strategy?: StrategySpec;
  /** Whether the written spec keeps its guardrails (a veto does; a rollback or promotion ends the comparison). */
  keepGuardrails?: boolean;
}

export interface RolloutStep {
  state: RolloutState;
  decision?: RolloutDecision;
}

/**
 * Every arm's evidence (`v1` served, `v2:shadow`) from the report counters and the reward
 * statistics. A fallback counts as a request and an error of the arm that was chosen: its
 * failure is what the error-rate guardrail is there to see, though a consumer got an answer.
 */
export function armRecords(counters: Record<string, string | number>, rewards: Record<string, ArmStats | undefined>): Record<string, ArmRecord> {
  const records: Record<string, ArmRecord> = Object.create(null);
  for (const { variant, role, measures } of groupCounters(counters).values()) {
    const arm = statsArm(variant, role);
    const fallbacks = measures.get('fallbacks') ?? 0;
    records[arm] = {
      rewards: rewards[arm] ?? emptyStats(),
      requests: (measures.get('requests') ?? 0) + fallbacks,
      errors: (measures.get('errors') ?? 0) + fallbacks,
      latencyBuckets: latencyBuckets(measures),
      fallbacks,
    };
  }
  for (const [arm, stats] of Object.entries(rewards)) {
    if (stats && !records[arm]) records[arm] = { rewards: stats, requests: 0, errors: 0, latencyBuckets: latencyBuckets(new Map()), fallbacks: 0 };
  }
  return records;
}

function emptyRecord(): ArmRecord {
  return { rewards: emptyStats(), requests: 0, errors: 0, latencyBuckets: latencyBuckets(new Map()), fallbacks: 0 };
}

/** What an arm gathered since `baseline`. */
export function recordSince(current: ArmRecord | undefined, baseline: ArmRecord | undefined): ArmRecord {
  const now = current ?? emptyRecord();
  const then = baseline ?? emptyRecord();
  return {
    rewards: subtractStats(now.rewards, then.rewards),
    requests: Math.max(0, now.requests - then.requests),
    errors: Math.max(0, now.errors - then.errors),
    latencyBuckets: now.latencyBuckets.map((count, i) => Math.max(0, count - (then.latencyBuckets[i] ?? 0))),
    fallbacks: Math.max(0, now.fallbacks - then.fallbacks),
  };
}

/** The part of a spec a comparison is about: a change to anything else (a timeout, a URL) keeps its evidence. */
export function rolloutSubject(spec: DeploymentSpec): string {
  const { vetoed: _vetoed, ...strategy } = spec.strategy;
  return JSON.stringify({ strategy, guardrails: spec.guardrails });
}

/**
 * One pass of the controller over one deployment. `undefined` when the spec has no
 * guardrails (nothing to judge). A comparison starts when the subject first appears (its
 * baseline: the counts at that moment), and ends in a terminal status; one that ended by
 * writing a spec is over for good, so a later spec with guardrails starts afresh.
 */
export function reconcileRollout(spec: DeploymentSpec, previous: RolloutState | undefined, arms: Record<string, ArmRecord>, now: Date): RolloutStep | undefined {
  const guardrails = spec.guardrails;
  if (!guardrails || spec.strategy.type === 'single') return undefined;
  const subject = rolloutSubject(spec);
  const last = previous?.lastDecision;
  const ended = !!last && TERMINAL.has(previous!.status) && last.toVersion !== last.fromVersion && spec.version > last.fromVersion;
  if (!previous || previous.subject !== subject || ended) {
    return { state: { subject, specVersion: spec.version, status: 'waiting', since: now.toISOString(), baseline: arms } };
  }
  const state: RolloutState = { ...previous, specVersion: spec.version };
  if (TERMINAL.has(state.status)) return { state };
  const counted = (arm: string) => recordSince(arms[arm], state.baseline[arm]);
  switch (spec.strategy.type) {
    case 'canary':
      return judgeCanary(spec.strategy, guardrails, state, counted);
    case 'shadow':
      return judgeShadows(spec.strategy, guardrails, state, counted);
    case 'bandit':
      return judgeBandit(spec, guardrails, state, counted);
    default:
      return { state };
  }
}

type Counted = (arm: string) => ArmRecord;

function evidenceOf(judgement: GuardrailJudgement, srmP: number | null): DecisionEvidence {
  const { metric, n, mean: means, delta, low, high, alpha, errorRate, p99Ms } = judgement.evidence;
  return { metric, n, mean: means, delta, low, high, alpha, srmP, errorRate, p99Ms };
}

/** Chi-square needs enough counts to be read as one; below this the split is not tested. */
const SRM_MIN_REQUESTS = 100;

function judgeCanary(strategy: StrategySpec, guardrails: Guardrails, state: RolloutState, counted: Counted): RolloutStep {
  const primary = strategy.primary!;
  const candidate = strategy.canary!;
  const [c, p] = [counted(candidate), counted(primary)];
  const judgement = judgeCandidate({ candidate, primary }, c, p, guardrails);
  // Assignments, not answers: a canary request its primary answered after a failure was still the canary's.
  const assigned = { [candidate]: c.requests, [primary]: Math.max(0, p.requests - c.fallbacks) };
  const share = (strategy.percent ?? 0) / 100;
  const srm = c.requests + p.requests >= SRM_MIN_REQUESTS ? sampleRatioMismatch(assigned, { [candidate]: share, [primary]: 1 - share }) : undefined;
  const evidence = evidenceOf(judgement, srm?.p ?? null);
  if (srm && srm.p < SRM_P_THRESHOLD) {
    const reason = `sample ratio mismatch: ${assigned[candidate]} of ${assigned[candidate] + assigned[primary]} requests went to ${candidate} for a ${strategy.percent} % split (chi-square p = ${srm.p.toExponential(2)}); the comparison is not trusted`;
    return finish(state, 'paused', evidence, [reason], { action: 'pause', reason, candidate, primary, evidence });
  }
  return verdictStep(state, guardrails, judgement, evidence, candidate, primary, candidate);
}

function judgeShadows(strategy: StrategySpec, guardrails: Guardrails, state: RolloutState, counted: Counted): RolloutStep {
  const primary = strategy.primary!;
  const judged = (strategy.shadows ?? []).map((shadow) => {
    const judgement = judgeCandidate({ candidate: statsArm(shadow, 'shadow'), primary }, counted(statsArm(shadow, 'shadow')), counted(primary), guardrails);
    return { shadow, judgement };
  });
  // A failing shadow acts first, then a passing one; otherwise the least advanced one is shown.
  const order: GuardrailJudgement['verdict'][] = ['fail', 'pass', 'inconclusive', 'waiting', 'continue'];
  judged.sort((a, b) => order.indexOf(a.judgement.verdict) - order.indexOf(b.judgement.verdict));
  const { shadow, judgement } = judged[0];
  return verdictStep(state, guardrails, judgement, evidenceOf(judgement, null), shadow, primary, shadow);
}

/** The common ending of a candidate-against-primary comparison: what each verdict does. */
function verdictStep(state: RolloutState, guardrails: Guardrails, judgement: GuardrailJudgement, evidence: DecisionEvidence, candidate: string, primary: string, promoteTo: string): RolloutStep {
  const reasons = judgement.reasons;
  const reason = reasons.join('; ');
  switch (judgement.verdict) {
    case 'waiting':
    case 'continue':
      return finish(state, judgement.verdict === 'waiting' ? 'waiting' : 'running', evidence, reasons);
    case 'fail':
      return finish(state, 'failed', evidence, reasons, {
        action: guardrails.onFail,
        reason,
        candidate,
        primary,
        evidence,
        ...(guardrails.onFail === 'rollback' && { strategy: { type: 'single', variant: primary } }),
      });
    case 'pass':
      return finish(state, 'passed', evidence, reasons, {
        action: guardrails.onPass,
        reason,
        candidate,
        primary,
        evidence,
        ...(guardrails.onPass === 'promote' && { strategy: { type: 'single', variant: promoteTo } }),
      });
    case 'inconclusive':
      return finish(state, 'inconclusive', evidence, reasons, { action: 'pause', reason, candidate, primary, evidence });
  }
}

/**
 * A bandit judges its own rewards; the guardrails here are the operational ones: an arm
 * whose error rate or latency fails against the best arm (highest mean reward among
 * arms with `minSamples`) is vetoed, one per pass, and held at the floor share.
 */
function judgeBandit(spec: DeploymentSpec, guardrails: Guardrails, state: RolloutState, counted: Counted): RolloutStep {
  const vetoed = new Set(spec.strategy.vetoed ?? []);
  const arms = spec.variants.map((variant) => ({ name: variant.name, record: counted(variant.name) }));
  const n = Object.fromEntries(arms.map((arm) => [arm.name, arm.record.rewards.count]));
  const means = Object.fromEntries(arms.filter((arm) => arm.record.rewards.count > 0).map((arm) => [arm.name, mean(arm.record.rewards)]));
  const evidence: DecisionEvidence = { metric: 'reward', n, mean: means, delta: null, low: null, high: null, alpha: guardrails.alpha, srmP: null };
  const ready = arms.filter((arm) => !vetoed.has(arm.name) && arm.record.rewards.count >= guardrails.minSamples);
  if (!ready.length) return finish(state, 'waiting', evidence, [`no arm has ${guardrails.minSamples} labelled pairs yet`]);
  const best = ready.reduce((a, b) => (mean(b.record.rewards) > mean(a.record.rewards) ? b : a));
  for (const arm of arms) {
    if (arm.name === best.name || vetoed.has(arm.name)) continue;
    const failures = operationalFailures({ candidate: arm.name, primary: best.name }, arm.record, best.record, guardrails);
    if (!failures.length) continue;
    const reason = `${arm.name} vetoed against the best arm ${best.name}: ${failures.join('; ')}`;
    return finish(state, 'running', evidence, [reason], {
      action: 'veto',
      reason,
      candidate: arm.name,
      primary: best.name,
      evidence,
      strategy: { ...spec.strategy, vetoed: [...vetoed, arm.name] },
      keepGuardrails: true,
    });
  }
  return finish(state, 'running', evidence, [`best arm ${best.name}; no arm fails the error-rate or latency guardrail`]);
}

function finish(state: RolloutState, status: RolloutStatus, evidence: DecisionEvidence, reasons: string[], decision?: RolloutDecision): RolloutStep {
  return { state: { ...state, status, evidence, reasons }, ...(decision && { decision }) };
}
