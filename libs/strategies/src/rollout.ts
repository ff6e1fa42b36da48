import {
  type BanditStrategySpec,
  type DecisionAction,
  type DecisionEvidence,
  type DeploymentSpec,
  type DeploymentStatus,
  GUARDRAIL_DEFAULTS,
  type Guardrails,
  labelHorizonSeconds,
  planStepKind,
  type PlanStrategySpec,
  type StrategySpec,
} from '@switchyard/contracts';
import { type ArmStats, emptyStats, mean } from './arm-stats';
import { type ArmEvidence, type GuardrailJudgement, type GuardrailSettings, judgeCandidate, operationalFailures } from './guardrails';
import { canaryShare } from './canary';
import { currentStep, servingSpec, stepStrategy } from './plan';
import { groupCounters, latencyBuckets, type PropensitySums, propensitySums, splitKey } from './report';
import { rewardKindOf } from './reward';
import { type CohortCell, type CohortRewards, cohortRewards, type CohortSelection, statsArm } from './reward-stats';
import { propensityMismatch, sampleRatioMismatch, SRM_P_THRESHOLD } from './srm';
import { DEFAULT_MIN_SHARE } from './weights';
import { pairedArm, pairedVariant } from './reward-ledger';

/**
 * What the rollout controller decides, as pure functions: it reads, calls
 * `reconcileRollout`, and writes what comes back. Level-triggered: every pass starts
 * from the stored spec and state, so a pass that runs twice or dies half-way leaves
 * nothing wrong behind.
 */

export const ROLLOUT_STATUSES = ['waiting', 'running', 'passed', 'failed', 'inconclusive', 'paused', 'done'] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];

const TERMINAL: ReadonlySet<RolloutStatus> = new Set(['passed', 'failed', 'inconclusive', 'paused', 'done']);
/** Verdicts that were acted on: a comparison that ended so is over, even if its subject comes back. */
export const ENDED: ReadonlySet<RolloutStatus> = new Set(['passed', 'failed', 'inconclusive', 'done']);
/** Decisions kept in the state's history (the full record is the decision events on Kafka). */
const HISTORY = 50;

/** One arm's evidence, plus the fallbacks it caused (chosen, failed, answered by another variant). */
export interface ArmRecord extends ArmEvidence {
  fallbacks: number;
  /**
   * Requests it answered and fallbacks it caused under the spec version (and plan step)
   * judged, its `splitKey`: what the split check counts; a bandit's, the inverse-propensity
   * sums of the requests it was chosen for.
   */
  split: {
    requests: number;
    fallbacks: number;
    propensity: PropensitySums;
    /**
     * Distinct units the split assigned to it (each request without a unit key a unit of its
     * own; a deterministic subsample of them), counted by the joiner; absent in reports
     * written before it counted them.
     */
    units?: number;
  };
}

/** An arm's counts from the report counters: its evidence but the rewards, which are read by cohort. */
export type ArmCounts = Omit<ArmRecord, 'rewards'>;

/**
 * What a pass sees of a deployment: the report's counts per arm, and the reward
 * statistics by cohort, with the paired cells (arm `pairedArm`) where the updater kept them.
 */
export interface Observed {
  arms: Record<string, ArmCounts>;
  cohorts: readonly CohortCell[];
}

/** The labelled pairs of the cohorts a comparison judges, per arm. */
export interface CohortState {
  /** The `splitKey`s served under the comparison (one per spec version that kept its subject): what it judges. */
  keys: string[];
  /**
   * Epoch seconds: set when the comparison started afresh on a cohort an earlier one
   * judged (a plan step resumed after the pause its gate wrote), which then judges only
   * slots served wholly after it started.
   */
  servedFrom?: number;
  /** Pairs judged: served at least the label horizon ago. */
  judged: Record<string, number>;
  /** Pairs labelled but served within the label horizon: not judged yet. */
  waiting: Record<string, number>;
  /** Distinct units per arm served under the split key judged now, as the split check counts them (absent before the joiner counted them). */
  units?: Record<string, number>;
}

export interface DecisionSummary {
  action: DecisionAction;
  reason: string;
  at: string;
  fromVersion: number;
  /** `null` until the spec it wrote is known (the controller fills it in once written). */
  toVersion: number | null;
  /** It wrote the rollout status (a plan advanced or paused, an arm vetoed), not a spec. */
  wroteStatus?: true;
}

/** The controller's memory of one deployment's comparison. */
export interface RolloutState {
  /** What is compared (strategy and guardrails); when a spec changes it, the comparison starts over. */
  subject: string;
  specVersion: number;
  status: RolloutStatus;
  /** When the comparison started. */
  since: string;
  /**
   * The report's counts when it started: requests, errors and latencies are judged as
   * counted since. (States written before rewards were read by cohort hold rewards here
   * too; they are not read.)
   */
  baseline: Record<string, ArmCounts>;
  /** Absent in states written before rewards were read by cohort: then the current `splitKey` alone. */
  cohort?: CohortState;
  evidence?: DecisionEvidence;
  reasons?: string[];
  lastDecision?: DecisionSummary;
  /** Decisions taken on this deployment, oldest first (the last `HISTORY`). */
  history?: DecisionSummary[];
}

export interface RolloutDecision {
  action: DecisionAction;
  reason: string;
  candidate?: string;
  primary?: string;
  evidence: DecisionEvidence;
  /** The strategy to write, with compare-and-set on the judged version; absent when the spec stays as it is. */
  strategy?: StrategySpec;
  /** The rollout status fields to set (no new version), with compare-and-set on the judged version. */
  status?: DeploymentStatus;
}

/** The state with `decision` recorded as the last one and appended to the history. */
export function withDecision(state: RolloutState, decision: DecisionSummary): RolloutState {
  return { ...state, lastDecision: decision, history: [...(state.history ?? []), decision].slice(-HISTORY) };
}

export interface RolloutStep {
  state: RolloutState;
  decision?: RolloutDecision;
  /** Each arm's judged reward statistics (`v2:shadow` for a shadow): what its gauges show. */
  judged?: Record<string, ArmStats>;
}

/**
 * Every arm's counts (`v1` served, `v2:shadow`) from the report counters. A fallback
 * counts as a request and an error of the arm that was chosen: its failure is what the
 * error-rate guardrail is there to see, though a consumer got an answer.
 */
export function armCounts(counters: Record<string, string | number>, split?: string | number): Record<string, ArmCounts> {
  const records: Record<string, ArmCounts> = Object.create(null);
  for (const { variant, role, measures } of groupCounters(counters).values()) {
    const arm = statsArm(variant, role);
    const fallbacks = measures.get('fallbacks') ?? 0;
    records[arm] = {
      requests: (measures.get('requests') ?? 0) + fallbacks,
      errors: (measures.get('errors') ?? 0) + fallbacks,
      latencyBuckets: latencyBuckets(measures),
      fallbacks,
      split: {
        requests: measures.get(`requests@${split}`) ?? 0,
        fallbacks: measures.get(`fallbacks@${split}`) ?? 0,
        propensity: propensitySums(measures, split),
        ...(measures.has(`units@${split}`) && { units: measures.get(`units@${split}`) }),
      },
    };
  }
  return records;
}

function emptyCounts(): ArmCounts {
  return {
    requests: 0,
    errors: 0,
    latencyBuckets: latencyBuckets(new Map()),
    fallbacks: 0,
    split: { requests: 0, fallbacks: 0, propensity: { sum: 0, sumSq: 0, skipped: 0 } },
  };
}

/** What an arm counted since `baseline` (its split counts are already the current version's, or plan step's, own). */
export function countsSince(current: ArmCounts | undefined, baseline: ArmCounts | undefined): ArmCounts {
  const now = current ?? emptyCounts();
  const then = baseline ?? emptyCounts();
  return {
    requests: Math.max(0, now.requests - then.requests),
    errors: Math.max(0, now.errors - then.errors),
    latencyBuckets: now.latencyBuckets.map((count, i) => Math.max(0, count - (then.latencyBuckets[i] ?? 0))),
    fallbacks: Math.max(0, now.fallbacks - then.fallbacks),
    split: now.split,
  };
}

/**
 * The part of a deployment a comparison is about (strategy, a plan's current step, and
 * guardrails): a change to anything else (a timeout, a URL, a veto, a plan paused and
 * resumed) keeps its evidence.
 */
export function rolloutSubject(spec: DeploymentSpec): string {
  const step = spec.strategy.type === 'plan' ? currentStep(spec.strategy, spec.status).index : undefined;
  return JSON.stringify({ strategy: spec.strategy, step, guardrails: spec.guardrails });
}

/** Whether `state` is a comparison of what `spec` is now (else the controller's next pass starts a new one). */
export function judgesSubject(state: RolloutState, spec: DeploymentSpec): boolean {
  return state.subject === rolloutSubject(spec);
}

/** A plan's position as every reading of it names it: `step 2 of 4 (canary)`. */
export function planPosition(plan: PlanStrategySpec, status: DeploymentStatus | undefined): string {
  const { index, step } = currentStep(plan, status);
  return `step ${index + 1} of ${plan.steps.length} (${planStepKind(step)})`;
}

/**
 * Why a plan the spec holds paused is paused: the controller's own reasons when it paused
 * it (an inconclusive gate, a split not trusted), else that it waits for an operator's
 * resume. The controller writes these on its passes, and `judgementOf` shows them before it.
 */
export function pausedPlanReasons(state: RolloutState | undefined, position: string): string[] {
  return state && (state.status === 'paused' || state.status === 'inconclusive') && state.reasons?.length
    ? state.reasons
    : [`${position} is paused; resume to go on`];
}

/**
 * What a comparison judges: the `splitKey` served now, after those served under earlier
 * versions of the same comparison (a spec change that kept its subject, e.g. a timeout,
 * writes a version but keeps the evidence). A fresh comparison on a key the one before
 * judged starts from `now`.
 */
function judgedSelection(spec: DeploymentSpec, previous: RolloutState | undefined, fresh: boolean, now: Date): CohortSelection {
  const current = splitKey(spec.version, spec.status?.step);
  const before = previous?.cohort;
  if (fresh) return before?.keys.includes(current) ? { keys: [current], servedFrom: Math.floor(now.getTime() / 1000) } : { keys: [current] };
  const keys = before?.keys ?? [];
  return { keys: keys.includes(current) ? keys : [...keys, current], ...(before?.servedFrom !== undefined && { servedFrom: before.servedFrom }) };
}

/**
 * The statistics of the comparison's cohorts, each arm's pairs split by the label
 * horizon. Why this is right when labels come late: a pair counts for the `splitKey` its
 * prediction was served under, so whatever comes in during a later step is never taken
 * for the current step's (the old rule, totals minus a baseline taken when the step
 * began, did exactly that: the primary's late negatives from step 1 weighed on step 2).
 * Within the cohort, the pairs judged are those of predictions served before
 * `now - labelHorizon`, slot by slot (a slot only once its end is that old): the set of
 * predictions judged is fixed by when they were served, never by how soon their labels
 * came. With labels declared to come within the horizon, each judged prediction has its
 * label by now, so a reward that is slower to be known (often the bad one) is not left
 * out; without a horizon, every labelled pair is judged, as before. The judged set only
 * grows, in the order predictions were served, which is the sequence the anytime-valid
 * test (sequential.ts) is built to be watched over.
 */
export function judgedCohort(cells: readonly CohortCell[], selection: CohortSelection, guardrails: Guardrails, now: Date) {
  const horizon = labelHorizonSeconds(guardrails.labelHorizon);
  // No horizon: every pair counted is judged, the slot being served now included.
  return cohortRewards(cells, selection, horizon > 0 ? Math.floor(now.getTime() / 1000) - horizon : Infinity);
}

/**
 * One pass of the controller over one deployment. `undefined` when there is nothing to
 * judge (no guardrails and no plan, or `single`). A comparison starts when its subject
 * first appears (its baseline: the report's counts at that moment) and ends in a terminal
 * status; one whose verdict wrote a spec is over for good, so a later spec with the same
 * subject (an operator restoring it) starts afresh. Rewards are judged on the cohorts the
 * comparison served (`judgedCohort`). A plan judges with its guardrails or the defaults,
 * and each step is a new subject served under its own `splitKey`, so a gate counts only
 * the pairs its own step served.
 */
export function reconcileRollout(spec: DeploymentSpec, previous: RolloutState | undefined, observed: Observed, now: Date): RolloutStep | undefined {
  const strategy = spec.strategy;
  const declared = spec.guardrails ?? (strategy.type === 'plan' ? { ...GUARDRAIL_DEFAULTS } : undefined);
  if (!declared || strategy.type === 'single') return undefined;
  const guardrails: Judged = { ...declared, rewardKind: rewardKindOf(spec.reward) };
  const last = previous?.lastDecision;
  // Its status is written in the same step as the state that records the decision: it is in force.
  const wrote = !!last && (last.wroteStatus === true || (last.toVersion !== last.fromVersion && spec.version > last.fromVersion));
  const ended = wrote && ENDED.has(previous!.status);
  const { arms, cohorts } = observed;
  let state: RolloutState;
  const fresh = !previous || !judgesSubject(previous, spec) || ended;
  if (fresh) {
    // Judged at once, on nothing counted yet: a step that needs no pairs (promote) need not wait a pass.
    state = { subject: rolloutSubject(spec), specVersion: spec.version, status: 'waiting', since: now.toISOString(), baseline: arms };
    if (previous?.lastDecision) state.lastDecision = previous.lastDecision;
    if (previous?.history) state.history = previous.history;
  } else state = { ...previous, specVersion: spec.version };
  const selection = judgedSelection(spec, previous, fresh, now);
  // The paired cells are judged by the same selection and horizon as the arms' own.
  const isPaired = (cell: CohortCell) => pairedVariant(cell.arm) !== undefined;
  const rewards = judgedCohort(
    cohorts.filter((cell) => !isPaired(cell)),
    selection,
    guardrails,
    now,
  );
  const pairs = judgedCohort(cohorts.filter(isPaired), selection, guardrails, now);
  const labelled = (which: 'judged' | 'waiting') => Object.fromEntries(Object.entries(rewards).map(([arm, stats]) => [arm, stats[which].count]));
  state.cohort = {
    keys: [...selection.keys],
    ...(selection.servedFrom !== undefined && { servedFrom: selection.servedFrom }),
    judged: labelled('judged'),
    waiting: labelled('waiting'),
  };
  const units = Object.entries(arms).flatMap(([arm, counts]) => (counts.split.units === undefined ? [] : [[arm, counts.split.units] as const]));
  if (units.length) state.cohort.units = Object.fromEntries(units);
  // Clustered by unit where the updater kept the judged cells' unit sums (cluster.ts).
  const served = servingSpec(spec).strategy;
  const counted = (arm: string): ArmRecord => {
    const judged = rewards[arm];
    const paired = candidatePairs(served, arm, pairs);
    return {
      ...countsSince(arms[arm], state.baseline[arm]),
      rewards: judged?.judged ?? emptyStats(),
      ...(judged?.judgedUnits && { rewardUnits: judged.judgedUnits }),
      ...(paired && { paired }),
    };
  };
  const judged = Object.fromEntries(Object.entries(rewards).map(([arm, stats]) => [arm, stats.judged]));
  return { ...judgeStrategy(spec, strategy, guardrails, state, counted, now), judged };
}

/**
 * A candidate's judged paired differences with the primary, candidate − primary, where
 * the updater kept them (`pairedArm` cells, judged as the arms' cells are: `judgedCohort`).
 * A paired cell holds d = shadow − served (`pairRewards`): a shadow's own cells as they
 * are; a paired canary's are its primary's cells (the primary answered the canary's
 * requests as a shadow), d = primary − canary, so negated.
 */
function candidatePairs(served: StrategySpec, arm: string, pairs: Record<string, CohortRewards>): ArmStats | undefined {
  const shadow = /^(.+):shadow$/.exec(arm)?.[1];
  if (served.type === 'shadow' && shadow !== undefined) return pairs[pairedArm(shadow)]?.judged;
  if (served.type !== 'canary' || !served.pairWithPrimary || arm !== served.canary) return undefined;
  const d = pairs[pairedArm(served.primary)]?.judged;
  return d && { ...d, sum: -d.sum };
}

function judgeStrategy(
  spec: DeploymentSpec,
  strategy: Exclude<StrategySpec, { type: 'single' }>,
  guardrails: Judged,
  state: RolloutState,
  counted: Counted,
  now: Date,
): RolloutStep {
  if (strategy.type === 'plan') return judgePlan(spec, strategy, guardrails, state, counted, now);
  if (TERMINAL.has(state.status)) return { state };
  switch (strategy.type) {
    case 'canary':
      return onGuardrails(state, guardrails, compareCanary(strategy.primary, strategy.canary, strategy.percent, guardrails, counted));
    case 'shadow':
      return onGuardrails(state, guardrails, compareShadows(strategy.primary, strategy.shadows, guardrails, counted));
    case 'bandit':
      return judgeBandit(spec, strategy, guardrails, state, counted);
  }
}

type Counted = (arm: string) => ArmRecord;
/** A deployment's guardrails with the kind of its reward, as the judgement needs them. */
type Judged = Guardrails & Pick<GuardrailSettings, 'rewardKind'>;

/** One candidate judged against the primary; `mismatch` when the split cannot be trusted. */
interface Comparison {
  candidate: string;
  primary: string;
  judgement: GuardrailJudgement;
  evidence: DecisionEvidence;
  mismatch?: string;
}

function evidenceOf(judgement: GuardrailJudgement, srmP: number | null): DecisionEvidence {
  return { ...judgement.evidence, srmP };
}

/** Below this many units (or requests) over both arms the split is not tested. */
const SRM_MIN_REQUESTS = 100;

/** `candidate` (on its `candidateArm` statistics) against `primary`, with no split to check. */
function compare(primary: string, candidate: string, guardrails: Judged, counted: Counted, candidateArm = candidate): Comparison {
  const judgement = judgeCandidate({ candidate: candidateArm, primary }, counted(candidateArm), counted(primary), guardrails);
  return { candidate, primary, judgement, evidence: evidenceOf(judgement, null) };
}

/** A canary, plus the sample-ratio check of its split. */
function compareCanary(primary: string, candidate: string, percent: number, guardrails: Judged, counted: Counted): Comparison {
  const comparison = compare(primary, candidate, guardrails, counted);
  const [c, p] = [counted(candidate).split, counted(primary).split];
  const { assigned, what } = splitCounts(candidate, c, primary, p);
  // As the router assigns it: the percent at its bucket resolution.
  const share = canaryShare(percent);
  const total = assigned[candidate] + assigned[primary];
  const srm = total >= SRM_MIN_REQUESTS ? sampleRatioMismatch(assigned, { [candidate]: share, [primary]: 1 - share }) : undefined;
  comparison.evidence.srmP = srm?.p ?? null;
  if (srm && srm.p < SRM_P_THRESHOLD) {
    comparison.mismatch = `sample ratio mismatch: ${assigned[candidate]} of ${total} ${what} served under this version went to ${candidate} for a ${percent} % split (anytime-valid p = ${srm.p.toExponential(2)}); the comparison is not trusted`;
  }
  return comparison;
}

/**
 * What a canary's split check counts per arm: distinct units where the joiner counts them
 * (the split randomises units, sticky by `unitKey`: counting requests, a few heavy units
 * look like a mismatch with nothing broken), else the requests (exact when no unit key is
 * sent). Assignments, not answers: units are counted under the arm the split chose, and a
 * canary request its primary answered after a failure is moved back to the canary.
 */
export function splitCounts(
  candidate: string,
  c: ArmRecord['split'],
  primary: string,
  p: ArmRecord['split'],
): { assigned: Record<string, number>; what: 'units' | 'requests' } {
  if (c.units !== undefined || p.units !== undefined) return { assigned: { [candidate]: c.units ?? 0, [primary]: p.units ?? 0 }, what: 'units' };
  return { assigned: { [candidate]: c.requests + c.fallbacks, [primary]: Math.max(0, p.requests - c.fallbacks) }, what: 'requests' };
}

/** The sample-ratio check of a bandit over `arms` against its logged propensities; `mismatch` when it fails. */
interface BanditSplit {
  srmP: number | null;
  mismatch?: string;
  /** The arm whose sums are furthest from the requests. */
  arm?: string;
}

/**
 * A bandit's split against the propensities it logged (`propensityMismatch`), over the
 * requests served under the spec version judged, like the canary's. Not run without a
 * floor (an arm at weight 0 is never chosen, so the sums need not add up to the requests),
 * nor on a version with requests whose propensity was too small to weigh (`ipwSkipped`).
 */
function checkBanditSplit(arms: string[], minShare: number, counted: Counted): BanditSplit {
  const splits = arms.map((arm) => counted(arm).split);
  const requests = splits.reduce((sum, split) => sum + split.requests, 0);
  if (!(minShare > 0) || requests < SRM_MIN_REQUESTS || splits.some((split) => split.propensity.skipped > 0)) return { srmP: null };
  const test = propensityMismatch(requests, Object.fromEntries(arms.map((arm, i) => [arm, splits[i].propensity])), minShare);
  if (!test) return { srmP: null };
  if (!(test.p < SRM_P_THRESHOLD)) return { srmP: test.p, arm: test.arm };
  const mismatch =
    `sample ratio mismatch: the requests that chose ${test.arm}, each weighted by 1 / its logged probability, sum to ${Math.round(test.sum)} ` +
    `against ${requests} requests served under this version (z = ${test.z.toFixed(1)}, p = ${test.p.toExponential(2)} over ${arms.length} arms); ` +
    `the split does not match its logged propensities, the comparison is not trusted`;
  return { srmP: test.p, mismatch, arm: test.arm };
}

/** Each shadow on its `:shadow` statistics; the one that says most is shown: a failing one, then a passing one. */
function compareShadows(primary: string, shadows: string[], guardrails: Judged, counted: Counted): Comparison {
  const order: GuardrailJudgement['verdict'][] = ['fail', 'pass', 'inconclusive', 'waiting', 'continue'];
  const compared = shadows.map((shadow) => compare(primary, shadow, guardrails, counted, statsArm(shadow, 'shadow')));
  return compared.sort((a, b) => order.indexOf(a.judgement.verdict) - order.indexOf(b.judgement.verdict))[0];
}

/** What a verdict does under guardrails alone (`onFail`, `onPass`). */
function onGuardrails(state: RolloutState, guardrails: Judged, { candidate, primary, judgement, evidence, mismatch }: Comparison): RolloutStep {
  if (mismatch) return finish(state, 'paused', evidence, [mismatch], { action: 'pause', reason: mismatch, candidate, primary, evidence });
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
        ...(guardrails.onPass === 'promote' && { strategy: { type: 'single', variant: candidate } }),
      });
    case 'inconclusive':
      return finish(state, 'inconclusive', evidence, reasons, { action: 'pause', reason, candidate, primary, evidence });
  }
}

const NO_EVIDENCE = (alpha: number): DecisionEvidence => ({ metric: 'reward', n: {}, mean: {}, delta: null, low: null, high: null, alpha, srmP: null });

/**
 * A plan's current step. Its gate passes → `advance` (the next step's index written to
 * the status); fails → `rollback` to the primary (a spec); inconclusive or a sample ratio
 * mismatch → `pause` (the status written as paused, resumed by an operator). A pause step
 * advances after its seconds; one without waits for `resume`: advancing into it writes
 * the status paused.
 */
function judgePlan(spec: DeploymentSpec, plan: PlanStrategySpec, guardrails: Judged, state: RolloutState, counted: Counted, now: Date): RolloutStep {
  const { index, step } = currentStep(plan, spec.status);
  const { primary, candidate } = plan;
  const position = planPosition(plan, spec.status);
  const held = state.evidence ?? NO_EVIDENCE(guardrails.alpha);
  if (spec.status?.paused) return finish(state, 'paused', held, pausedPlanReasons(state, position));

  const decide = (
    status: RolloutStatus,
    evidence: DecisionEvidence,
    action: DecisionAction,
    reason: string,
    write: Pick<RolloutDecision, 'strategy' | 'status'>,
  ) => finish(state, status, evidence, [reason], { action, reason: `${position}: ${reason}`, candidate, primary, evidence, ...write });
  const advance = (evidence: DecisionEvidence, reason: string) => {
    const next = index + 1;
    const pause = plan.steps[next].pause;
    const openPause = pause !== undefined && pause.seconds === undefined;
    return decide('passed', evidence, 'advance', reason, { status: { step: next, ...(openPause && { paused: true }) } });
  };

  let comparison: Comparison;
  const served = stepStrategy(plan, index);
  if (step.promote) {
    return decide('done', held, 'promote', `every gate passed; ${candidate} now serves all traffic`, { strategy: { type: 'single', variant: candidate } });
  } else if (step.pause) {
    const seconds = step.pause.seconds;
    const left = seconds === undefined ? 0 : seconds - (now.getTime() - Date.parse(state.since)) / 1000;
    if (left <= 0) return advance(held, seconds === undefined ? 'resumed' : `paused ${seconds} s`);
    return finish(state, 'running', held, [`${position}: ${Math.ceil(left)} s of ${seconds} s left`]);
  } else if (step.shadow) {
    comparison = compareShadows(primary, [candidate], { ...guardrails, minSamples: step.shadow.minSamples ?? guardrails.minSamples }, counted);
  } else if (served.type === 'canary') {
    comparison = compareCanary(primary, candidate, served.percent, guardrails, counted);
  } else if (step.bandit && served.type === 'bandit') {
    comparison = compare(primary, candidate, guardrails, counted);
    // The split moves by design: checked against the propensities it logged.
    const split = checkBanditSplit([primary, candidate], served.minShare ?? DEFAULT_MIN_SHARE, counted);
    comparison.evidence.srmP = split.srmP;
    if (split.mismatch) comparison.mismatch = split.mismatch;
    const pairs = counted(candidate).rewards.count + counted(primary).rewards.count;
    const needed = step.bandit.minSamples ?? 2 * guardrails.minSamples;
    if (pairs < needed && comparison.judgement.verdict !== 'fail' && !comparison.mismatch) {
      return finish(state, 'waiting', comparison.evidence, [`${position}: ${pairs} of ${needed} labelled pairs`]);
    }
  } else {
    // Refused by validation (`planStepKind`): a record written some other way is not acted on.
    return finish(state, 'paused', held, [`${position}: not a step with exactly one kind`]);
  }
  const { judgement, evidence, mismatch } = comparison;
  const reason = judgement.reasons.join('; ');
  if (mismatch) return decide('paused', evidence, 'pause', mismatch, { status: { paused: true } });
  switch (judgement.verdict) {
    case 'waiting':
    case 'continue':
      return finish(
        state,
        judgement.verdict === 'waiting' ? 'waiting' : 'running',
        evidence,
        judgement.reasons.map((r) => `${position}: ${r}`),
      );
    case 'fail':
      return decide('failed', evidence, 'rollback', reason, { strategy: { type: 'single', variant: primary } });
    case 'pass':
      return advance(evidence, reason);
    case 'inconclusive':
      return decide('inconclusive', evidence, 'pause', reason, { status: { paused: true } });
  }
}

/**
 * A bandit judges its own rewards; the controller checks its split against the
 * propensities it logged (a mismatch pauses, as a canary's does), and the guardrails here
 * are the operational ones: an arm
 * whose error rate or latency fails against the best arm (highest mean reward among
 * arms with `minSamples`) is vetoed (its status), one per pass, and held at the floor share.
 */
function judgeBandit(spec: DeploymentSpec, bandit: BanditStrategySpec, guardrails: Judged, state: RolloutState, counted: Counted): RolloutStep {
  const vetoed = new Set(spec.status?.vetoed ?? []);
  const arms = spec.variants.map((variant) => ({ name: variant.name, record: counted(variant.name) }));
  const n = Object.fromEntries(arms.map((arm) => [arm.name, arm.record.rewards.count]));
  const means = Object.fromEntries(arms.filter((arm) => arm.record.rewards.count > 0).map((arm) => [arm.name, mean(arm.record.rewards)]));
  const split = checkBanditSplit(
    arms.map((arm) => arm.name),
    bandit.minShare ?? DEFAULT_MIN_SHARE,
    counted,
  );
  const evidence: DecisionEvidence = { metric: 'reward', n, mean: means, delta: null, low: null, high: null, alpha: guardrails.alpha, srmP: split.srmP };
  // As the canary's: a split that does not match its log makes every comparison of its arms untrusted.
  if (split.mismatch) return finish(state, 'paused', evidence, [split.mismatch], { action: 'pause', reason: split.mismatch, candidate: split.arm, evidence });
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
      status: { vetoed: [...vetoed, arm.name] },
    });
  }
  return finish(state, 'running', evidence, [`best arm ${best.name}; no arm fails the error-rate or latency guardrail`]);
}

function finish(state: RolloutState, status: RolloutStatus, evidence: DecisionEvidence, reasons: string[], decision?: RolloutDecision): RolloutStep {
  return { state: { ...state, status, evidence, reasons }, ...(decision && { decision }) };
}
