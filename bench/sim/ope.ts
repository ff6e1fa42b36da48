/**
 * `npm run sim -- --only ope`: how often the off-policy evaluation's interval holds the
 * true value, on traffic logged the way the router logs it. Pure and in memory: a
 * Thompson bandit (the real `banditWeights` and `chooseArm`) over three arms right 70,
 * 80 and 90 % of the time, its weights refreshed every batch of requests from the
 * rewards observed so far, each request logging the probability its arm was chosen with.
 * Every target policy is then evaluated on each run's log with the real estimators, and
 * the coverage counted over many seeds. Deterministic from `seed`.
 */
import type { SimPart } from './part';
import {
  addReward,
  ArmStats,
  banditWeights,
  chooseArm,
  ContextualSample,
  DEFAULT_MIN_ESS,
  emptyStats,
  estimatePolicyValue,
  evaluateOffPolicy,
  evaluationRefusals,
  fixedPolicy,
  LoggedSample,
  murmur3,
  OpeMethod,
  sampleBeta,
  seededRng,
  targetProbabilities,
  Weights,
} from '@switchyard/strategies';
import { pickUnit, unitCdf, type UnitTraffic } from './decisions';

const ACCURACY: Record<string, number> = { v1: 0.7, v2: 0.8, v3: 0.9 };
const ARMS = Object.keys(ACCURACY);

export interface OpeSimulationOptions {
  runs: number;
  seed: number;
  /** Logged requests per run. @default 3000 */
  requests?: number;
  /** Requests between two weight refreshes (the router's refresh interval, in requests). @default 100 */
  batch?: number;
  /** The bandit's floor on every arm's share. @default 0.01 (the product's default) */
  minShare?: number;
  /** Refusal threshold on the effective sample size. @default 30 */
  minEss?: number;
}

interface Target {
  name: string;
  policy: Weights;
}

const TARGETS: Target[] = [
  { name: 'single v1', policy: targetProbabilities({ type: 'single', variant: 'v1' }) },
  { name: 'single v2', policy: targetProbabilities({ type: 'single', variant: 'v2' }) },
  { name: 'single v3', policy: targetProbabilities({ type: 'single', variant: 'v3' }) },
  { name: 'bandit v1 50 % / v3 50 %', policy: targetProbabilities({ type: 'bandit', weights: { v1: 0.5, v3: 0.5 } }) },
  { name: 'canary v2 → v3 at 10 %', policy: targetProbabilities({ type: 'canary', primary: 'v2', canary: 'v3', percent: 10 }) },
];

const METHODS: OpeMethod[] = ['snips', 'ips', 'clipped-ips'];

/** The true mean reward of a policy: its probabilities times the arms' accuracies. */
function trueValue(policy: Weights): number {
  return Object.entries(policy).reduce((sum, [arm, p]) => sum + p * ACCURACY[arm], 0);
}

/** One run of logged Thompson traffic: every request's chosen arm, its propensity and its 0/1 reward. */
export function logThompsonTraffic(seed: number, requests: number, batch: number, minShare: number): LoggedSample[] {
  const rng = seededRng(seed);
  const stats = new Map<string, ArmStats>(ARMS.map((arm) => [arm, emptyStats()]));
  const log: LoggedSample[] = [];
  let weights: Weights = {};
  for (let t = 0; t < requests; t++) {
    // Refreshed from what is known at the start of each batch, as the router refreshes
    // on a timer: rewards inside a batch only count from the next one.
    if (t % batch === 0) {
      weights = banditWeights(
        'thompson',
        ARMS.map((name) => ({ name, stats: stats.get(name) })),
        { rng, minShare, rewardKind: 'binary' },
      );
    }
    const choice = chooseArm(weights, rng);
    const reward = rng() < ACCURACY[choice.variant] ? 1 : 0;
    log.push({ variant: choice.variant, probability: choice.probability, reward });
    stats.set(choice.variant, addReward(stats.get(choice.variant)!, reward));
  }
  return log;
}

interface Tally {
  runs: number;
  refused: number;
  covered: number;
  coveredAll: number;
  width: number;
  ess: number;
  error: number;
}

const pct = (x: number, of: number) => (of ? `${((100 * x) / of).toFixed(1)} %` : '–');
/** The median: a t interval on few degrees of freedom is now and then very wide, and a mean width would be those runs'. */
const median = (xs: readonly number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export async function runOpeSimulation(opts: { runs: number; seed: number } & Partial<OpeSimulationOptions>): Promise<{ title: string; markdown: string }> {
  const requests = opts.requests ?? 3000;
  const batch = opts.batch ?? 100;
  const minShare = opts.minShare ?? 0.01;
  const minEss = opts.minEss ?? DEFAULT_MIN_ESS;
  const tallies = new Map<string, Tally>();
  const tally = (key: string) => {
    let t = tallies.get(key);
    if (!t) tallies.set(key, (t = { runs: 0, refused: 0, covered: 0, coveredAll: 0, width: 0, ess: 0, error: 0 }));
    return t;
  };
  const armCounts: Record<string, number> = Object.fromEntries(ARMS.map((arm) => [arm, 0]));

  for (let run = 0; run < opts.runs; run++) {
    const log = logThompsonTraffic(opts.seed + run, requests, batch, minShare);
    for (const s of log) armCounts[s.variant]++;
    for (const target of TARGETS) {
      const truth = trueValue(target.policy);
      const refused = evaluationRefusals(log, target.policy, { minEss }).length > 0;
      for (const method of METHODS) {
        const result = estimatePolicyValue(log, target.policy, { method });
        const inside = result.low <= truth && truth <= result.high;
        const t = tally(`${target.name}|${method}`);
        t.runs++;
        if (inside) t.coveredAll++;
        if (refused) {
          t.refused++;
          continue;
        }
        if (inside) t.covered++;
        t.width += result.high - result.low;
        t.ess += result.ess;
        t.error += result.estimate - truth;
      }
    }
    // Yield now and then so a caller's progress output and signals get through.
    if (run % 20 === 19) await new Promise((resolve) => setImmediate(resolve));
  }

  const total = opts.runs * requests;
  const lines = [
    `Logged traffic: Thompson (\`banditWeights\`, minShare ${minShare}) over v1/v2/v3 of accuracy 0.70/0.80/0.90, ${requests} requests per run, weights refreshed every ${batch} requests from the rewards seen so far; ${opts.runs} runs (seeds ${opts.seed}–${opts.seed + opts.runs - 1}). Served overall: ${ARMS.map((arm) => `${arm} ${pct(armCounts[arm], total)}`).join(', ')}.`,
    `Coverage: share of the runs whose 95 % interval holds the true value, among the runs not refused (ESS ≥ ${minEss}, every target variant logged); "all runs" counts the refused ones too. Bias: mean estimate − truth over the runs not refused.`,
    '',
    '| target policy | true value | method | refused | coverage (not refused) | coverage (all runs) | mean width | mean ESS | bias |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const target of TARGETS) {
    for (const method of METHODS) {
      const t = tally(`${target.name}|${method}`);
      const kept = t.runs - t.refused;
      lines.push(
        `| ${target.name} | ${trueValue(target.policy).toFixed(2)} | ${method}${method === 'snips' ? ' (default)' : ''} | ${pct(t.refused, t.runs)} | ${pct(t.covered, kept)} | ${pct(t.coveredAll, t.runs)} | ${kept ? (t.width / kept).toFixed(3) : '–'} | ${kept ? (t.ess / kept).toFixed(0) : '–'} | ${kept ? (t.error / kept).toFixed(4) : '–'} |`,
      );
    }
  }
  return { title: 'Off-policy evaluation: interval coverage on logged Thompson traffic', markdown: lines.join('\n') };
}

/**
 * A sticky canary's log (v2 primary, v3 the canary at 10 %): each unit on the canary with
 * probability 0.1 (its hash) for all its requests, requests drawn from units by their
 * traffic weight (lognormal), each request logging the canary's share as its propensity,
 * as canary traffic does. Units differ in accuracy: a unit's accuracy on a variant is
 * Beta-distributed around the variant's (`ACCURACY`) with intra-unit correlation `icc`
 * (a + b = (1 − icc)/icc), so a unit's rewards move together. Accuracy is independent of
 * traffic, so a policy's true mean reward per request is still Σ π(v)·ACCURACY[v].
 */
export function logStickyCanary(seed: number, requests: number, traffic: UnitTraffic, icc: number, withUnits: boolean): ContextualSample[] {
  const rng = seededRng(seed);
  const cdf = unitCdf(rng, traffic);
  const share = 0.1;
  const concentration = (1 - icc) / icc;
  const units = Array.from({ length: traffic.units }, () => {
    const variant = rng() < share ? 'v3' : 'v2';
    return {
      variant,
      probability: variant === 'v3' ? share : 1 - share,
      accuracy: sampleBeta(rng, ACCURACY[variant] * concentration, (1 - ACCURACY[variant]) * concentration),
    };
  });
  return Array.from({ length: requests }, () => {
    const u = pickUnit(rng, cdf);
    const { variant, probability, accuracy } = units[u];
    return { variant, probability, reward: rng() < accuracy ? 1 : 0, x: [1], ...(withUnits && { unit: `u${u}` }) };
  });
}

const STICKY_TARGETS: Target[] = [
  { name: 'single v2 (the primary)', policy: targetProbabilities({ type: 'single', variant: 'v2' }) },
  { name: 'single v3 (the canary)', policy: targetProbabilities({ type: 'single', variant: 'v3' }) },
  { name: 'canary v2 → v3 at 10 % (the logging policy)', policy: targetProbabilities({ type: 'canary', primary: 'v2', canary: 'v3', percent: 10 }) },
  { name: 'canary v2 → v3 at 50 %', policy: targetProbabilities({ type: 'canary', primary: 'v2', canary: 'v3', percent: 50 }) },
];
const STICKY_METHODS = ['ips', 'snips', 'dm', 'dr', 'sndr'] as const;

/**
 * Coverage of every estimator's interval (`evaluateOffPolicy`: IPS, SNIPS, DM, DR, SNDR) on
 * sticky canary logs, the same log evaluated with its unit keys (clustered intervals) and
 * without them (each request independent, as before issue #24).
 */
export async function runStickyCanarySimulation(opts: { runs: number; seed: number }): Promise<string> {
  const requests = 3000;
  const traffic: UnitTraffic = { units: 500, sigma: 1 };
  const icc = 0.1;
  const tallies = STICKY_TARGETS.map(() =>
    Object.fromEntries(
      STICKY_METHODS.map((m) => [m, { runs: 0, refused: 0, clustered: 0, unclustered: 0, widths: [] as number[], plainWidths: [] as number[] }]),
    ),
  );
  for (let run = 0; run < opts.runs; run++) {
    // One log, seen with and without its unit keys: the same draws.
    const stream = murmur3('ope/sticky-canary', opts.seed + run);
    const [keyed, plain] = [true, false].map((withUnits) => logStickyCanary(stream, requests, traffic, icc, withUnits));
    STICKY_TARGETS.forEach((target, k) => {
      const truth = trueValue(target.policy);
      const clustered = evaluateOffPolicy(keyed, fixedPolicy(target.policy));
      const unclustered = evaluateOffPolicy(plain, fixedPolicy(target.policy));
      for (const method of STICKY_METHODS) {
        const t = tallies[k][method];
        t.runs++;
        if (clustered.refusals.length) {
          t.refused++;
          continue;
        }
        const [c, u] = [clustered.estimates[method], unclustered.estimates[method]];
        if (c.low <= truth && truth <= c.high) t.clustered++;
        if (u.low <= truth && truth <= u.high) t.unclustered++;
        t.widths.push(c.high - c.low);
        t.plainWidths.push(u.high - u.low);
      }
    });
    if (run % 20 === 19) await new Promise((resolve) => setImmediate(resolve));
  }
  const lines = [
    `Logged traffic: a sticky canary, v2 primary and v3 the canary at 10 % of ${traffic.units} units (each unit on the canary with probability 0.1, for all its requests), ` +
      `requests drawn from units by lognormal traffic weights (σ = ${traffic.sigma}), ${requests} requests per run, each logging the canary's share as its propensity. ` +
      `Units differ in accuracy: a unit's accuracy is Beta around its variant's (0.80 / 0.90) with intra-unit correlation ${icc}. ` +
      `Every estimator of \`evaluateOffPolicy\` (reward model: the variant means, no context), on the same log with its unit keys (clustered intervals) and without them (every request independent). ` +
      `${opts.runs} runs (seeds ${opts.seed}–${opts.seed + opts.runs - 1}, each log drawn from murmur3("ope/sticky-canary", seed)). Coverage among the runs not refused.`,
    '',
    '| target policy | true value | method | refused | coverage, clustered by unit | coverage, requests independent | median width, clustered / independent |',
    '|---|---:|---|---:|---:|---:|---:|',
  ];
  STICKY_TARGETS.forEach((target, k) => {
    for (const method of STICKY_METHODS) {
      const t = tallies[k][method];
      const kept = t.runs - t.refused;
      const miss = kept && t.clustered < 0.95 * kept ? ' (below 95 %)' : '';
      lines.push(
        `| ${target.name} | ${trueValue(target.policy).toFixed(2)} | ${method.toUpperCase()} | ${pct(t.refused, t.runs)} | ${pct(t.clustered, kept)}${miss} | ${pct(t.unclustered, kept)} | ` +
          `${kept ? `${median(t.widths).toFixed(3)} / ${median(t.plainWidths).toFixed(3)}` : '–'} |`,
      );
    }
  });
  return lines.join('\n');
}

/** The part `ope` of `npm run sim`. */
export const ope: SimPart = {
  name: 'ope',
  summary: "off-policy evaluation: coverage of each estimator's interval on logged Thompson traffic, and on a sticky canary log with and without unit keys",
  async run({ runs, seed }) {
    const { title, markdown } = await runOpeSimulation({ runs: runs ?? 200, seed });
    const sticky = await runStickyCanarySimulation({ runs: runs ?? 200, seed });
    return `### ${title}\n\n${markdown}\n\n### Off-policy evaluation on a sticky canary log, units that differ in accuracy\n\n${sticky}`;
  },
};
