/**
 * The part `guardrails`: simulated canaries with Bernoulli rewards, judged by the real
 * `judgeCandidate` with GUARDRAIL_DEFAULTS after every batch of labelled requests, as the
 * rollout controller would; beside it, a naive fixed-horizon z-test peeked at the same moments.
 * Then each step of a plan at the default settings, served as the router serves it and
 * judged by the controller's own `reconcileRollout`: what a step costs in labelled pairs.
 */
import { type DecisionAction, type DeploymentSpec, GUARDRAIL_DEFAULTS, type PlanStrategySpec } from '@switchyard/contracts';
import {
  addReward,
  ArmEvidence,
  type Observed,
  type PropensitySums,
  ArmStats,
  banditWeights,
  contextFreeAlgorithm,
  canaryShare,
  emptyStats,
  GuardrailSettings,
  GuardrailVerdict,
  LATENCY_BUCKETS_MS,
  judgeCandidate,
  murmur3,
  reconcileRollout,
  rewardKindOf,
  Rng,
  seededRng,
  splitKey,
  statsArm,
  PLAN_BANDIT_MIN_SHARE,
  stepStrategy,
} from '@switchyard/strategies';
import type { SimOptions, SimPart } from './part';

/** Labelled requests between two looks of the controller. */
const BATCH = 100;
const DEFAULT_RUNS = 1000;
/** Two-sided 0.05 critical value of the naive test. */
const Z_CRITICAL = 1.959964;
const NAMES = { candidate: 'canary', primary: 'primary' };

interface Scenario {
  id: string;
  canaryShare: number;
  canaryRate: number;
  primaryRate: number;
  /** What a correct rule does here, and how often it must, for the goal column. */
  goal?: { verdict: 'fail' | 'pass'; share: number; atMost?: boolean; text: string };
}

const PASSES: Scenario['goal'] = { verdict: 'pass', share: 0.99, text: 'passed ≥ 99 %' };
/** Latency is not what is simulated: every success falls in this bucket, so only the reward decides. */
const LATENCY_BUCKET = 3;

const SCENARIOS: readonly Scenario[] = [
  {
    id: 'A/A',
    canaryShare: 0.1,
    canaryRate: 0.8,
    primaryRate: 0.8,
    goal: { verdict: 'fail', share: GUARDRAIL_DEFAULTS.alpha, atMost: true, text: `rolled back ≤ ${100 * GUARDRAIL_DEFAULTS.alpha} %` },
  },
  { id: 'A/B (worse canary)', canaryShare: 0.1, canaryRate: 0.7, primaryRate: 0.8, goal: { verdict: 'fail', share: 0.99, text: 'rolled back ≥ 99 %' } },
  { id: 'B/A (better canary)', canaryShare: 0.1, canaryRate: 0.8, primaryRate: 0.7, goal: PASSES },
];

/**
 * The plan of docs/strategies.md ("Plans"), its pause left out, at the default settings: no guardrails (GUARDRAIL_DEFAULTS), and steps that
 * leave out minSamples and minShare, with a clearly better candidate (0.90 against 0.70).
 */
const PLAN: PlanStrategySpec = {
  type: 'plan',
  primary: 'primary',
  candidate: 'candidate',
  steps: [{ shadow: {} }, { canary: 5 }, { canary: 25 }, { canary: 50 }, { bandit: { algorithm: 'thompson' } }, { promote: true }],
};
const PLAN_RATES: Record<string, number> = { primary: 0.7, candidate: 0.9 };
const JUDGED_AT = new Date('2026-01-01T00:00:00Z');

interface RunOutcome {
  verdict: GuardrailVerdict;
  /** Labelled pairs, all arms and the canary's, when the verdict came. */
  pairs: number;
  canaryPairs: number;
  /** The naive test's first significant look: −1 rolled back, +1 promoted, 0 never. */
  naive: -1 | 0 | 1;
}

/** Every labelled request answered, in one latency bucket. */
export function evidence(stats: ArmStats): ArmEvidence {
  const latencyBuckets = LATENCY_BUCKETS_MS.map(() => 0);
  latencyBuckets[LATENCY_BUCKET] = stats.count;
  return { rewards: { ...stats }, requests: stats.count, errors: 0, latencyBuckets };
}

/** Welch's two-sample z on the means: what a fixed-horizon dashboard shows. */
function naiveZ(canary: ArmStats, primary: ArmStats): number {
  const [pc, pp] = [canary.sum / canary.count, primary.sum / primary.count];
  return (pc - pp) / Math.sqrt((pc * (1 - pc)) / canary.count + (pp * (1 - pp)) / primary.count);
}

function simulateRun(rng: Rng, scenario: Scenario, settings: GuardrailSettings): RunOutcome {
  const canary: ArmStats = { count: 0, sum: 0, sumSq: 0 };
  const primary: ArmStats = { count: 0, sum: 0, sumSq: 0 };
  let outcome: Omit<RunOutcome, 'naive'> | undefined;
  let naive: RunOutcome['naive'] | undefined;
  while (outcome === undefined || naive === undefined) {
    for (let i = 0; i < BATCH; i++) {
      const [stats, rate] = rng() < scenario.canaryShare ? [canary, scenario.canaryRate] : [primary, scenario.primaryRate];
      const reward = rng() < rate ? 1 : 0;
      stats.count++;
      stats.sum += reward;
      stats.sumSq += reward;
    }
    const enough = canary.count >= settings.minSamples && primary.count >= settings.minSamples;
    const atMax = canary.count >= settings.maxSamples && primary.count >= settings.maxSamples;
    if (outcome === undefined) {
      const { verdict } = judgeCandidate(NAMES, evidence(canary), evidence(primary), settings);
      if (verdict !== 'waiting' && verdict !== 'continue') outcome = { verdict, pairs: canary.count + primary.count, canaryPairs: canary.count };
    }
    // The naive test gets the same gate and the same horizon; it stops at its first significant look.
    if (naive === undefined && enough) {
      const z = naiveZ(canary, primary);
      if (Math.abs(z) > Z_CRITICAL) naive = z < 0 ? -1 : 1;
      else if (atMax) naive = 0;
    }
  }
  return { ...outcome, naive };
}

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: readonly number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] : NaN;
}

const share = (count: number, runs: number) => `${((100 * count) / runs).toFixed(1)} %`;
const medianAndP95 = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return `${percentile(sorted, 0.5)} (${percentile(sorted, 0.95)})`;
};

function row(scenario: Scenario, outcomes: readonly RunOutcome[]): string {
  const runs = outcomes.length;
  const count = (verdict: GuardrailVerdict) => outcomes.filter((o) => o.verdict === verdict).length;
  const { goal } = scenario;
  const met = goal && (goal.atMost ? count(goal.verdict) <= goal.share * runs : count(goal.verdict) >= goal.share * runs);
  // Pairs to a verdict: of the runs that got the verdict the scenario is about (A/A: pass, the right one).
  const decided = goal ? outcomes.filter((o) => o.verdict === (goal.atMost ? 'pass' : goal.verdict)) : outcomes;
  const naiveRollbacks = outcomes.filter((o) => o.naive === -1).length;
  const naiveAny = outcomes.filter((o) => o.naive !== 0).length;
  return [
    scenario.id,
    `${100 * scenario.canaryShare} %`,
    `${scenario.canaryRate} / ${scenario.primaryRate}`,
    runs,
    share(count('fail'), runs),
    share(count('pass'), runs),
    share(count('inconclusive'), runs),
    decided.length ? medianAndP95(decided.map((o) => o.pairs)) : '–',
    decided.length ? medianAndP95(decided.map((o) => o.canaryPairs)) : '–',
    `${share(naiveRollbacks, runs)} (${share(naiveAny, runs)})`,
    goal ? `${goal.text}: ${met ? 'yes' : 'no'}` : '',
  ].join(' | ');
}

interface StepOutcome {
  /** The controller's decision on the step: advance (its gate passed), rollback, or pause. */
  action: DecisionAction;
  /** Requests served in the step, every one labelled; labelled pairs of all arms, and the candidate's. */
  requests: number;
  pairs: number;
  candidatePairs: number;
}

/**
 * The controller's view of arms whose every request was answered and labelled under
 * `spec`'s step: the counters of `evidence`, the split their requests, and a bandit's the
 * inverse-propensity sums of its logged probabilities; the rewards, the step's cohort.
 */
function observed(spec: DeploymentSpec, stats: Record<string, ArmStats>, propensity: Record<string, PropensitySums>): Observed {
  const key = splitKey(spec.version, spec.status?.step);
  return {
    arms: Object.fromEntries(
      Object.entries(stats).map(([arm, rewards]) => {
        const { requests, errors, latencyBuckets } = evidence(rewards);
        const split = { requests: rewards.count, fallbacks: 0, propensity: propensity[arm] ?? { sum: 0, sumSq: 0, skipped: 0 } };
        return [arm, { requests, errors, latencyBuckets, fallbacks: 0, split }];
      }),
    ),
    cohorts: Object.entries(stats).map(([arm, rewards]) => ({ arm, key, servedFrom: 0, servedBefore: 0, stats: rewards })),
  };
}

/**
 * Plan step `index` from its first controller pass to its decision: requests served as
 * `stepStrategy` says (a bandit's weights recomputed by `banditWeights` after every batch,
 * as the updater does from the statistics), each labelled at once, and `reconcileRollout`
 * after every batch.
 */
function simulateStep(rng: Rng, index: number): StepOutcome {
  const spec: DeploymentSpec = {
    name: 'sim',
    version: 1,
    updatedAt: JUDGED_AT.toISOString(),
    variants: [PLAN.primary, PLAN.candidate].map((name) => ({ name, url: 'http://127.0.0.1:9', protocol: 'v2' as const, timeoutMs: 1000, retries: 0 })),
    strategy: PLAN,
    reward: { type: 'match' },
    status: { step: index },
  };
  const served = stepStrategy(PLAN, index);
  // Per stats arm (`candidate:shadow` for a shadow's answers), as the updater counts them.
  const arms: Record<string, ArmStats> = {};
  const answer = (arm: string, variant: string) => (arms[arm] = addReward(arms[arm] ?? emptyStats(), rng() < PLAN_RATES[variant] ? 1 : 0));
  const propensity: Record<string, PropensitySums> = {};
  let { state } = reconcileRollout(spec, undefined, { arms: {}, cohorts: [] }, JUDGED_AT)!;
  for (let requests = BATCH; ; requests += BATCH) {
    const weights =
      served.type === 'bandit'
        ? banditWeights(
            contextFreeAlgorithm(served.algorithm),
            [PLAN.primary, PLAN.candidate].map((name) => ({ name, stats: arms[name] })),
            { rng, minShare: served.minShare, rewardKind: rewardKindOf(spec.reward) },
          )
        : undefined;
    for (let i = 0; i < BATCH; i++) {
      if (served.type === 'shadow') {
        answer(PLAN.primary, PLAN.primary);
        answer(statsArm(PLAN.candidate, 'shadow'), PLAN.candidate);
        continue;
      }
      const candidateShare = served.type === 'canary' ? canaryShare(served.percent) : weights![PLAN.candidate];
      const variant = rng() < candidateShare ? PLAN.candidate : PLAN.primary;
      answer(variant, variant);
      if (weights) {
        const sums = (propensity[variant] ??= { sum: 0, sumSq: 0, skipped: 0 });
        sums.sum += 1 / weights[variant];
        sums.sumSq += 1 / weights[variant] ** 2;
      }
    }
    const step = reconcileRollout(spec, state, observed(spec, arms, propensity), JUDGED_AT)!;
    state = step.state;
    if (step.decision) {
      const n = step.decision.evidence.n;
      const candidatePairs = Object.entries(n).find(([arm]) => arm.startsWith(PLAN.candidate))?.[1] ?? 0;
      return { action: step.decision.action, requests, pairs: Object.values(n).reduce((sum, count) => sum + count, 0), candidatePairs };
    }
  }
}

function planRows(options: SimOptions, runs: number): string[] {
  return PLAN.steps.flatMap((step, index) => {
    const served = stepStrategy(PLAN, index);
    if (step.promote) return [];
    const rng = seededRng(murmur3(`guardrails/plan/${index}`, options.seed));
    const outcomes = Array.from({ length: runs }, () => simulateStep(rng, index));
    const count = (action: DecisionAction) => outcomes.filter((o) => o.action === action).length;
    const advanced = outcomes.filter((o) => o.action === 'advance');
    const of = (value: (o: StepOutcome) => number) => (advanced.length ? medianAndP95(advanced.map(value)) : '–');
    const servedAs = served.type === 'canary' ? `canary ${served.percent} %` : served.type === 'bandit' ? `bandit, floor ${served.minShare}` : served.type;
    const met = count('advance') >= 0.99 * runs;
    return [
      `| ${index + 1}. ${servedAs} | ${runs} | ${share(count('advance'), runs)} | ${share(count('rollback'), runs)} | ${share(count('pause'), runs)} | ` +
        `${of((o) => o.requests)} | ${of((o) => o.pairs)} | ${of((o) => o.candidatePairs)} | advanced ≥ 99 %: ${met ? 'yes' : 'no'} |`,
    ];
  });
}

function run(options: SimOptions): string {
  const runs = options.runs ?? DEFAULT_RUNS;
  const settings: GuardrailSettings = { ...GUARDRAIL_DEFAULTS, rewardKind: 'binary' };
  const rows = SCENARIOS.map((scenario) => {
    // Each scenario its own stream, so --runs or a new scenario leaves the others' draws alone.
    const rng = seededRng(murmur3(`guardrails/${scenario.id}`, options.seed));
    const outcomes = Array.from({ length: runs }, () => simulateRun(rng, scenario, settings));
    return `| ${row(scenario, outcomes)} |`;
  });
  return [
    '### Guardrails: simulated canaries',
    '',
    `Bernoulli rewards; each labelled request goes to the canary with its share; \`judgeCandidate\` with GUARDRAIL_DEFAULTS ` +
      `(alpha ${settings.alpha}, minSamples ${settings.minSamples}, maxSamples ${settings.maxSamples} per arm, margin ${settings.margin}) ` +
      `after every ${BATCH} labelled requests until a verdict. Pairs to verdict: median (p95) over the runs with the verdict the row is about ` +
      `(fail for A/B, pass for the others). Naive: a two-sided z-test at 0.05 peeked at the same looks ` +
      `from minSamples on, stopped at its first significant look: rolled back (any significant verdict).`,
    '',
    "| scenario | canary share | reward canary / primary | runs | rolled back (fail) | passed | inconclusive | labelled pairs to verdict | canary's pairs | naive z-test peeked: rolled back (any) | goal |",
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows,
    '',
    '### Plan steps at the default settings',
    '',
    `The plan of docs/strategies.md without its pause (shadow, canary 5, 25 and 50 %, thompson bandit, promote) with no guardrails and no step settings, so ` +
      `GUARDRAIL_DEFAULTS apply (shadow minSamples ${settings.minSamples}, bandit ${2 * settings.minSamples} pairs and floor ` +
      `${PLAN_BANDIT_MIN_SHARE}); candidate ${PLAN_RATES.candidate} against primary ${PLAN_RATES.primary}. Each step from ` +
      `its first controller pass, served as the router serves it, every request labelled at once, \`reconcileRollout\` after every ` +
      `${BATCH} requests (a bandit's weights recomputed then too) until it decides. Median (p95) over the runs that advanced; ` +
      `paused: inconclusive or a sample ratio mismatch.`,
    '',
    "| step, served as | runs | advanced | rolled back | paused | requests | labelled pairs | candidate's pairs | goal |",
    '|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ...planRows(options, runs),
  ].join('\n');
}

export const guardrails: SimPart = {
  name: 'guardrails',
  summary: 'canary A/A, A/B, B/A judged by judgeCandidate after every batch against a naive peeked z-test; what each plan step costs',
  run,
};
