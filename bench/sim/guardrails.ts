/**
 * The part `guardrails`: simulated canaries with Bernoulli rewards, judged by the real
 * `judgeCandidate` with GUARDRAIL_DEFAULTS after every batch of labelled requests, as the
 * rollout controller would; beside it, a naive fixed-horizon z-test peeked at the same moments.
 */
import { GUARDRAIL_DEFAULTS } from '@switchyard/contracts';
import {
  ArmEvidence,
  ArmStats,
  GuardrailSettings,
  GuardrailVerdict,
  LATENCY_BUCKETS_MS,
  judgeCandidate,
  murmur3,
  Rng,
  seededRng,
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
  // The plan's canary steps with a good candidate: what each step costs in labelled pairs.
  { id: 'plan step 5 %', canaryShare: 0.05, canaryRate: 0.9, primaryRate: 0.7, goal: PASSES },
  { id: 'plan step 25 %', canaryShare: 0.25, canaryRate: 0.9, primaryRate: 0.7, goal: PASSES },
  { id: 'plan step 50 %', canaryShare: 0.5, canaryRate: 0.9, primaryRate: 0.7, goal: PASSES },
];

interface RunOutcome {
  verdict: GuardrailVerdict;
  /** Labelled pairs, all arms and the canary's, when the verdict came. */
  pairs: number;
  canaryPairs: number;
  /** The naive test's first significant look: −1 rolled back, +1 promoted, 0 never. */
  naive: -1 | 0 | 1;
}

/** Latency is not what is simulated: every success in one bucket, so only the reward decides. */
function evidence(stats: ArmStats): ArmEvidence {
  const latencyBuckets = LATENCY_BUCKETS_MS.map(() => 0);
  latencyBuckets[3] = stats.count;
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

function run(options: SimOptions): string {
  const runs = options.runs ?? DEFAULT_RUNS;
  const settings = GUARDRAIL_DEFAULTS;
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
  ].join('\n');
}

export const guardrails: SimPart = {
  name: 'guardrails',
  summary: 'canary A/A, A/B, B/A and plan steps judged by judgeCandidate after every batch; false rollback rate against a naive peeked z-test',
  run,
};
