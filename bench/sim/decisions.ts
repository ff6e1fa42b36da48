/**
 * The part `decisions` (issue #24): the guardrail and split rules of libs/strategies on
 * traffic that is not independent requests labelled at once: rates near 0 or 1 on small
 * canaries, continuous rewards with a small spread, sticky units, rewards correlated within
 * a unit, labels whose delay depends on the outcome. Every run judges the rules before
 * issue #24 (`baseline.ts`, OLD) and the rules now in the product (NEW: `judgeCandidate`,
 * `sampleRatioMismatch`) on the same simulated traffic, at the same looks.
 */
import { GUARDRAIL_DEFAULTS } from '@switchyard/contracts';
import {
  type ArmStats,
  emptyUnitSums,
  type GuardrailSettings,
  judgeCandidate,
  murmur3,
  type Rng,
  sampleBeta,
  sampleGamma,
  sampleNormal,
  sampleRatioMismatch,
  seededRng,
  SRM_P_THRESHOLD,
  type UnitSums,
} from '@switchyard/strategies';
import { baselineSplitMismatch, baselineVerdict } from './baseline';
import { evidence } from './guardrails';
import type { SimOptions, SimPart } from './part';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

const DEFAULT_RUNS = 2000;
export const NAMES = { candidate: 'canary', primary: 'primary' };
export const BINARY: GuardrailSettings = { ...GUARDRAIL_DEFAULTS, rewardKind: 'binary' };
/** Where the split check starts, as in the controller (`SRM_MIN_REQUESTS`). */
const SRM_MIN = 100;
/** A look after every 10 labelled pairs up to 2 000, then looks 3 % apart (a controller looks every few seconds, not per pair). */
const DENSE_LOOKS_UNTIL = 2_000;
const DENSE_STEP = 10;
const SPARSE_GROWTH = 1.03;

export function nextLook(total: number): number {
  return total < DENSE_LOOKS_UNTIL ? total + DENSE_STEP : Math.ceil(total * SPARSE_GROWTH);
}

type Outcome = 'fail' | 'pass' | 'inconclusive' | 'pause';
interface Decided {
  outcome: Outcome;
  /** Requests served when the rule decided; the canary's labelled pairs then. */
  requests: number;
  canaryPairs: number;
}
interface Both {
  old: Decided;
  new: Decided;
}

/** Binomial(n, p): inversion while the mean is small, else the normal approximation (n·p·(1 − p) ≥ 30). */
export function binomial(rng: Rng, n: number, p: number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  if (p > 0.5) return n - binomial(rng, n, 1 - p);
  const m = n * p;
  if (m * (1 - p) >= 30) return Math.min(n, Math.max(0, Math.round(sampleNormal(rng, m, Math.sqrt(m * (1 - p))))));
  const ratio = p / (1 - p);
  let probability = (1 - p) ** n;
  let cdf = probability;
  const u = rng();
  let k = 0;
  while (u > cdf && k < n) {
    probability *= ((n - k) / (k + 1)) * ratio;
    cdf += probability;
    k++;
  }
  return k;
}

const terminal = (verdict: string): verdict is 'fail' | 'pass' | 'inconclusive' => verdict === 'fail' || verdict === 'pass' || verdict === 'inconclusive';

interface Look {
  canary: ArmStats;
  primary: ArmStats;
  canaryUnits?: UnitSums;
  primaryUnits?: UnitSums;
  /** What each split check counts: requests for OLD; units (or requests without unit keys) for NEW. */
  oldSplit: [number, number];
  newSplit: [number, number];
  requests: number;
}

/** One look of both rules (OLD with `oldMargin`, absolute); fills in whichever has not decided yet. */
function judgeBoth(look: Look, settings: GuardrailSettings, expectedShare: number, state: Partial<Both>, oldMargin = settings.margin): void {
  const at = (outcome: Outcome): Decided => ({ outcome, requests: look.requests, canaryPairs: look.canary.count });
  // Below minSamples labelled pairs per arm neither rule gives a verdict (both wait): only the split checks look.
  const judged = look.canary.count >= settings.minSamples && look.primary.count >= settings.minSamples;
  if (!state.old) {
    if (baselineSplitMismatch(look.oldSplit[0], look.oldSplit[1], expectedShare)) state.old = at('pause');
    else if (judged) {
      const verdict = baselineVerdict(look.canary, look.primary, { ...settings, margin: oldMargin });
      if (terminal(verdict)) state.old = at(verdict);
    }
  }
  if (!state.new) {
    const [c, p] = look.newSplit;
    const srm = look.requests >= SRM_MIN ? sampleRatioMismatch({ canary: c, primary: p }, { canary: expectedShare, primary: 1 - expectedShare }) : undefined;
    if (srm && srm.p < SRM_P_THRESHOLD) state.new = at('pause');
    else if (judged) {
      const candidate = { ...evidence(look.canary), ...(look.canaryUnits && { rewardUnits: look.canaryUnits }) };
      const primary = { ...evidence(look.primary), ...(look.primaryUnits && { rewardUnits: look.primaryUnits }) };
      const { verdict } = judgeCandidate(NAMES, candidate, primary, settings);
      if (terminal(verdict)) state.new = at(verdict);
    }
  }
}

/** Adds `k` rewards of one arm to its statistics, drawn at once: a look's batch. */
export type AddBatch = (rng: Rng, stats: ArmStats, k: number, canary: boolean) => void;

/** Bernoulli rewards at each arm's rate. */
export const bernoulliBatch =
  (canaryRate: number, primaryRate: number): AddBatch =>
  (rng, stats, k, canary) => {
    const successes = binomial(rng, k, canary ? canaryRate : primaryRate);
    stats.count += k;
    stats.sum += successes;
    stats.sumSq += successes;
  };

/** Normal rewards N(mean, sd²): per look, the batch's sum and sum of squares drawn exactly (x̄ ~ N, Σ(x − x̄)² ~ σ²χ²). */
export const normalBatch =
  (canaryMean: number, primaryMean: number, sd: number): AddBatch =>
  (rng, stats, k, canary) => {
    if (k <= 0) return;
    const batchMean = sampleNormal(rng, canary ? canaryMean : primaryMean, sd / Math.sqrt(k));
    const squares = k > 1 ? sd * sd * 2 * sampleGamma(rng, (k - 1) / 2) : 0;
    stats.count += k;
    stats.sum += k * batchMean;
    stats.sumSq += squares + k * batchMean * batchMean;
  };

/** Independent requests (no unit key), every request labelled at once, rewards by `add`. */
function independentRun(rng: Rng, share: number, add: AddBatch, settings: GuardrailSettings, oldMargin?: number): Both {
  const canary = { count: 0, sum: 0, sumSq: 0 };
  const primary = { count: 0, sum: 0, sumSq: 0 };
  const state: Partial<Both> = {};
  for (let total = 0; !state.old || !state.new;) {
    const next = nextLook(total);
    const k = next - total;
    total = next;
    const nc = binomial(rng, k, share);
    add(rng, canary, nc, true);
    add(rng, primary, k - nc, false);
    const split: [number, number] = [canary.count, primary.count];
    judgeBoth({ canary, primary, oldSplit: split, newSplit: split, requests: total }, settings, share, state, oldMargin);
  }
  return state as Both;
}

export interface UnitTraffic {
  units: number;
  /** σ of ln(weight): 0 equal traffic per unit; lognormal otherwise. */
  sigma: number;
}

/** Cumulative weights of `units` units for drawing which unit sends a request. */
export function unitCdf(rng: Rng, { units, sigma }: UnitTraffic): Float64Array {
  const cdf = new Float64Array(units);
  let sum = 0;
  for (let u = 0; u < units; u++) cdf[u] = sum += sigma > 0 ? Math.exp(sampleNormal(rng, 0, sigma)) : 1;
  for (let u = 0; u < units; u++) cdf[u] /= sum;
  return cdf;
}

export function pickUnit(rng: Rng, cdf: Float64Array): number {
  const u = rng();
  let [lo, hi] = [0, cdf.length - 1];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Each arm's aggregates over its units (`cluster.ts`), from the units' counts and sums: K, Σn², ΣS², ΣnS. */
function unitSums(onCanary: boolean[], n: Float64Array, s: Float64Array): [UnitSums, UnitSums] {
  const [canary, primary] = [emptyUnitSums(), emptyUnitSums()];
  for (let u = 0; u < n.length; u++) {
    if (n[u] === 0) continue;
    const sums = onCanary[u] ? canary : primary;
    sums.units++;
    sums.countSq += n[u] * n[u];
    sums.sumSq += s[u] * s[u];
    sums.countSum += n[u] * s[u];
  }
  return [canary, primary];
}

/**
 * Sticky units: each unit is on the canary with probability `assignShare` (its hash), the
 * split expected `share`; requests come from units by their traffic weight. Rewards are
 * Bernoulli at the unit's own rate, Beta-distributed around `rate` with intra-unit
 * correlation `icc` (a + b = (1 − icc)/icc), or `rate` for all when icc = 0. `maxRequests`
 * ends a run that has not decided (a split check alone has nothing else to end it).
 */
function unitRun(
  rng: Rng,
  traffic: UnitTraffic,
  share: number,
  assignShare: number,
  rate: number,
  icc: number,
  settings: GuardrailSettings,
  maxRequests: number,
  look = nextLook,
): Both {
  const cdf = unitCdf(rng, traffic);
  const onCanary = Array.from({ length: traffic.units }, () => rng() < assignShare);
  const concentration = icc > 0 ? (1 - icc) / icc : 0;
  const rates = Array.from({ length: traffic.units }, () => (icc > 0 ? sampleBeta(rng, rate * concentration, (1 - rate) * concentration) : rate));
  const [n, s] = [new Float64Array(traffic.units), new Float64Array(traffic.units)];
  const canary = { count: 0, sum: 0, sumSq: 0 };
  const primary = { count: 0, sum: 0, sumSq: 0 };
  const oldSplit: [number, number] = [0, 0];
  const newSplit: [number, number] = [0, 0];
  const state: Partial<Both> = {};
  for (let total = 0; (!state.old || !state.new) && total < maxRequests;) {
    const next = Math.min(maxRequests, look(total));
    for (; total < next; total++) {
      const unit = pickUnit(rng, cdf);
      const reward = rng() < rates[unit] ? 1 : 0;
      const arm = onCanary[unit] ? 0 : 1;
      oldSplit[arm]++;
      if (n[unit] === 0) newSplit[arm]++;
      const stats = arm === 0 ? canary : primary;
      stats.count++;
      stats.sum += reward;
      stats.sumSq += reward;
      n[unit]++;
      s[unit] += reward;
    }
    const [canaryUnits, primaryUnits] = unitSums(onCanary, n, s);
    judgeBoth({ canary, primary, canaryUnits, primaryUnits, oldSplit, newSplit, requests: total }, settings, share, state);
  }
  const undecided: Decided = { outcome: 'inconclusive', requests: maxRequests, canaryPairs: canary.count };
  return { old: state.old ?? undecided, new: state.new ?? undecided };
}

/**
 * Labels whose delay depends on the outcome, across plan steps: canary 5 % then 25 %, the
 * candidate `gap` worse; a positive is labelled at once, a negative `delay` requests
 * later. Judged every 100 requests. OLD: a step counts the labels that *arrived* since it
 * began (the controller's former baseline), so step 1's late negatives (95 % of them the
 * primary's) land in step 2. NEW: a step counts its own cohort (the predictions it served)
 * past a label horizon of `delay` requests (`labelHorizon`, `judgedCohort` in rollout.ts),
 * whose labels have all come by then. One rule per run (`rule`), since the rules take
 * different paths; both draw the same traffic.
 */
function lateLabelsRun(rng: Rng, rule: 'old' | 'new', rate: number, gap: number, delay: number, maxPerStep: number): Decided {
  const arrivals = [[], []] as number[][];
  const heads = [0, 0];
  let served = 0;
  for (const share of [0.05, 0.25]) {
    const stats = [
      { count: 0, sum: 0, sumSq: 0 },
      { count: 0, sum: 0, sumSq: 0 },
    ];
    const start = served;
    const cohort: { arm: number; positive: boolean }[] = [];
    let judged = 0;
    const count = (arm: number, positive: boolean) => {
      stats[arm].count++;
      if (positive) {
        stats[arm].sum++;
        stats[arm].sumSq++;
      }
    };
    while (served - start < maxPerStep) {
      for (let i = 0; i < 100; i++, served++) {
        const arm = rng() < share ? 0 : 1;
        const positive = rng() < (arm === 0 ? rate - gap : rate);
        if (rule === 'new') cohort.push({ arm, positive });
        else if (positive) count(arm, true);
        else arrivals[arm].push(served + delay);
      }
      if (rule === 'new') {
        for (; judged < cohort.length && start + judged + delay <= served; judged++) count(cohort[judged].arm, cohort[judged].positive);
      } else {
        for (const arm of [0, 1]) {
          for (; heads[arm] < arrivals[arm].length && arrivals[arm][heads[arm]] <= served; heads[arm]++) count(arm, false);
        }
      }
      const verdict =
        rule === 'old' ? baselineVerdict(stats[0], stats[1], BINARY) : judgeCandidate(NAMES, evidence(stats[0]), evidence(stats[1]), BINARY).verdict;
      if (verdict === 'fail' || verdict === 'inconclusive') return { outcome: verdict, requests: served, canaryPairs: stats[0].count };
      if (verdict === 'pass') break;
    }
    if (served - start >= maxPerStep) return { outcome: 'inconclusive', requests: served, canaryPairs: stats[0].count };
  }
  return { outcome: 'pass', requests: served, canaryPairs: 0 };
}

/** A split check alone: never judged on rewards, a look every 100 requests (a controller pass), up to `requests`. */
const NEVER_DECIDES: GuardrailSettings = { ...BINARY, minSamples: Number.MAX_SAFE_INTEGER, maxSamples: Number.MAX_SAFE_INTEGER };

// ---- cells: every set of runs, by name; a worker pool runs them ----

type CellRun = (rng: Rng) => Both;

const GRID_RATES = [0.02, 0.1, 0.5, 0.9, 0.98];
const GRID_SHARES = [0.05, 0.1, 0.5];
const TRAFFIC = [
  { label: 'equal traffic', sigma: 0 },
  { label: 'lognormal traffic σ = 1', sigma: 1 },
  { label: 'lognormal traffic σ = 2', sigma: 2 },
];
const CONTINUOUS = [
  { name: 'negAbsError', mean: -0.05, sd: 0.01 },
  { name: 'explicit', mean: 0.6, sd: 0.05 },
];
export const CONTINUOUS_SETTINGS: GuardrailSettings = { ...GUARDRAIL_DEFAULTS, rewardKind: 'continuous', margin: 0.1, marginUnit: 'sd' };
/** A look every 100 requests: a controller pass on a busy deployment. */
const EVERY_100 = (total: number) => total + 100;

function cells(): Record<string, CellRun> {
  const all: Record<string, CellRun> = {};
  for (const p of GRID_RATES) {
    for (const share of GRID_SHARES) {
      all[`grid/aa/${p}/${share}`] = (rng) => independentRun(rng, share, bernoulliBatch(p, p), BINARY);
      all[`grid/margin/${p}/${share}`] = (rng) => independentRun(rng, share, bernoulliBatch(p - BINARY.margin, p), BINARY);
    }
  }
  for (const { sigma } of TRAFFIC)
    all[`units/srm/${sigma}`] = (rng) => unitRun(rng, { units: 1000, sigma }, 0.1, 0.1, 0.8, 0, NEVER_DECIDES, 20_000, EVERY_100);
  all['units/srm/broken'] = (rng) => unitRun(rng, { units: 5000, sigma: 1 }, 0.1, 0.13, 0.8, 0, NEVER_DECIDES, 20_000, EVERY_100);
  all['late/steps'] = (rng) => {
    // The same traffic for both rules until their paths part: each rule from a copy of the stream's state.
    const seed = Math.floor(rng() * 2 ** 32);
    return { old: lateLabelsRun(seededRng(seed), 'old', 0.8, 0.02, 20_000, 200_000), new: lateLabelsRun(seededRng(seed), 'new', 0.8, 0.02, 20_000, 200_000) };
  };
  all['units/icc'] = (rng) => unitRun(rng, { units: 1000, sigma: 0 }, 0.1, 0.1, 0.8, 0.1, BINARY, 400_000);
  for (const m of CONTINUOUS) {
    const oldMargin = GUARDRAIL_DEFAULTS.margin;
    const run =
      (canaryMean: number): CellRun =>
      (rng) =>
        independentRun(rng, 0.1, normalBatch(canaryMean, m.mean, m.sd), CONTINUOUS_SETTINGS, oldMargin);
    all[`continuous/${m.name}/worse`] = run(m.mean - 0.5 * m.sd);
    all[`continuous/${m.name}/aa`] = run(m.mean);
    all[`continuous/${m.name}/margin`] = run(m.mean - CONTINUOUS_SETTINGS.margin * m.sd);
  }
  return all;
}

interface CellResult {
  old: Decided[];
  new: Decided[];
  seed: number;
}

function runCell(name: string, seedBase: number, runs: number): CellResult {
  const seed = murmur3(`decisions/${name}`, seedBase);
  const rng = seededRng(seed);
  const run = cells()[name];
  const results = Array.from({ length: runs }, () => run(rng));
  return { old: results.map((r) => r.old), new: results.map((r) => r.new), seed };
}

interface Job {
  names: string[];
  seed: number;
  runs: number;
}

/** Runs every cell, on `workers` threads (cells dealt out longest first); each cell's stream is its own, so the split does not change a number. */
async function runAll(options: SimOptions, runs: number): Promise<Map<string, CellResult>> {
  // Rough cost order (the unit-level and 5 % canary cells are the long ones), so no thread is left with them at the end.
  const names = Object.keys(cells()).sort((a, b) => cost(b) - cost(a));
  const workers = Math.max(1, Math.min(options.workers ?? 1, names.length));
  const results = new Map<string, CellResult>();
  if (workers === 1) {
    for (const name of names)
      results.set(
        name,
        timed(name, () => runCell(name, options.seed, runs)),
      );
    return results;
  }
  const shares: string[][] = Array.from({ length: workers }, () => []);
  names.forEach((name, i) => shares[i % workers].push(name));
  await Promise.all(
    shares.map(
      (share) =>
        new Promise<void>((resolve, reject) => {
          const job: Job = { names: share, seed: options.seed, runs };
          const worker = new Worker(__filename, { workerData: { decisions: job } });
          worker.on('message', ([name, result]: [string, CellResult]) => results.set(name, result));
          worker.on('error', reject);
          worker.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`decisions worker exited with ${code}`))));
        }),
    ),
  );
  return results;
}

function cost(name: string): number {
  if (name === 'units/icc') return 100;
  if (name.startsWith('grid/') && name.endsWith('/0.05')) return 10;
  return name.startsWith('grid/') ? 5 : 1;
}

function timed(name: string, run: () => CellResult): CellResult {
  const started = process.hrtime.bigint();
  const result = run();
  process.stderr.write(`[sim] decisions/${name}: ${result.old.length} runs in ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s\n`);
  return result;
}

if (!isMainThread && (workerData as { decisions?: Job } | null)?.decisions) {
  const job = (workerData as { decisions: Job }).decisions;
  for (const name of job.names) parentPort!.postMessage([name, timed(name, () => runCell(name, job.seed, job.runs))]);
}

// ---- report ----

const pct = (n: number, runs: number) => `${((100 * n) / runs).toFixed(1)} %`;
function median(values: number[]): string {
  if (!values.length) return '–';
  const sorted = [...values].sort((a, b) => a - b);
  return String(sorted[Math.floor((sorted.length - 1) / 2)]);
}
const count = (results: Decided[], outcome: Outcome) => results.filter((r) => r.outcome === outcome).length;

const ALLOWED = { rollback: 0.025, pass: 0.025, pause: 0.01 };
const mark = (value: number, runs: number, allowed: number) => `${pct(value, runs)}${value > allowed * runs ? ' ✗' : ''}`;

function gridSection(results: Map<string, CellResult>, runs: number): string[] {
  const rows: string[] = [];
  for (const p of GRID_RATES) {
    for (const share of GRID_SHARES) {
      const aa = results.get(`grid/aa/${p}/${share}`)!;
      const atMargin = results.get(`grid/margin/${p}/${share}`)!;
      for (const rule of ['old', 'new'] as const) {
        rows.push(
          `| ${p} | ${100 * share} % | ${rule.toUpperCase()} | ${mark(count(aa[rule], 'fail'), runs, ALLOWED.rollback)} | ` +
            `${mark(count(atMargin[rule], 'pass'), runs, ALLOWED.pass)} | ${mark(count(aa[rule], 'pause'), runs, ALLOWED.pause)} | ` +
            `${pct(count(aa[rule], 'inconclusive'), runs)} | ${median(aa[rule].map((r) => r.requests))} | ${aa.seed} / ${atMargin.seed} |`,
        );
      }
    }
  }
  return [
    '### A/A grid: Bernoulli rewards, independent requests',
    '',
    `Canary at share s, both arms at rate p (A/A) for false rollbacks and pauses; canary exactly at p − margin (${BINARY.margin}) for ` +
      `false passes; GUARDRAIL_DEFAULTS (alpha ${BINARY.alpha}, minSamples ${BINARY.minSamples}, maxSamples ${BINARY.maxSamples}). ` +
      `Every request labelled at once; a look after every ${DENSE_STEP} labelled pairs up to ${DENSE_LOOKS_UNTIL}, then every ` +
      `${Math.round(100 * (SPARSE_GROWTH - 1))} % more; OLD and NEW judge the same runs. False pause: the split check paused a correct split. ` +
      `Inconclusive: both arms reached maxSamples (a plan pauses then too). Requests: median to the A/A verdict. ` +
      `✗: above the allowed rate (rollback, pass ≤ ${100 * ALLOWED.rollback} %, pause ≤ ${100 * ALLOWED.pause} %). ${runs} runs a cell; seeds A/A / at −margin.`,
    '',
    '| p | canary | rule | false rollback (A/A) | false pass (at −margin) | false pause (A/A) | inconclusive (A/A) | requests to verdict (A/A) | seeds |',
    '|---:|---:|---|---:|---:|---:|---:|---:|---|',
    ...rows,
  ];
}

/** Canary pairs a fixed-horizon two-sided z-test at 0.05 needs for 80 % power against `effectInSd` with the canary at `share`. */
function fixedHorizonCanaryPairs(effectInSd: number, share: number): number {
  const z = 1.959964 + 0.841621;
  // Var(Δ) = σ²(1/n_c + 1/n_p), n_p = n_c (1 − s)/s.
  return Math.ceil((z / effectInSd) ** 2 * (1 + share / (1 - share)));
}

function situationsSection(results: Map<string, CellResult>): string[] {
  const rows: string[] = [];
  const both = (situation: string, allowed: string, name: string, last: (r: Decided[]) => string) => {
    const result = results.get(name)!;
    for (const rule of ['old', 'new'] as const) {
      const r = result[rule];
      const outcomes = (['fail', 'pass', 'pause', 'inconclusive'] as const).map((o) => pct(count(r, o), r.length));
      rows.push(`| ${situation} | ${rule.toUpperCase()} | ${outcomes.join(' | ')} | ${last(r)} | ${allowed} | ${result.seed} |`);
    }
  };
  const none = () => '–';
  const pairsTo = (outcome: Outcome) => (r: Decided[]) => `${median(r.filter((d) => d.outcome === outcome).map((d) => d.canaryPairs))} canary pairs`;

  for (const t of TRAFFIC) both(`correct 10 % split, 1 000 sticky units, ${t.label}, 20 000 requests`, 'paused ≤ 1 %', `units/srm/${t.sigma}`, none);
  both(
    'broken split: 13 % of 5 000 units on a 10 % canary, lognormal σ = 1, 20 000 requests (power)',
    'paused: the more the better',
    'units/srm/broken',
    (r) => `${median(r.filter((d) => d.outcome === 'pause').map((d) => d.requests))} requests to pause`,
  );
  both(
    'plan steps 5 % → 25 %, candidate 0.78 against 0.80, negatives labelled 20 000 requests after positives; OLD: each step judged on the labels that arrived in it, NEW: on its own cohort past a label horizon of 20 000 requests',
    'rolled back ≥ 95 %',
    'late/steps',
    none,
  );
  both('A/A, 10 % canary, 1 000 sticky units, equal traffic, rewards at 0.8 with ICC 0.1', 'rolled back ≤ 2.5 %', 'units/icc', none);
  const fixed = fixedHorizonCanaryPairs(0.5, 0.1);
  for (const m of CONTINUOUS) {
    both(
      `${m.name}, σ = ${m.sd}, 10 % canary 0.5 σ worse (margin NEW 0.1 sd, OLD ${GUARDRAIL_DEFAULTS.margin})`,
      `rolled back at the first look past minSamples (${CONTINUOUS_SETTINGS.minSamples} canary pairs; fixed-horizon 80 % power: ${fixed})`,
      `continuous/${m.name}/worse`,
      pairsTo('fail'),
    );
    both(`${m.name}, σ = ${m.sd}, A/A`, 'rolled back ≤ 2.5 %', `continuous/${m.name}/aa`, none);
    both(`${m.name}, σ = ${m.sd}, canary exactly at −0.1 σ (NEW's margin)`, 'passed ≤ 2.5 % (NEW)', `continuous/${m.name}/margin`, none);
  }
  return [
    '### Situations of issue #24',
    '',
    'Each row OLD and NEW on the same runs. Sticky units: each unit on the canary with probability 0.1 (its hash), ' +
      'requests drawn from units by their traffic weight; OLD counts requests for the split and treats rewards as independent, ' +
      'NEW counts distinct units and clusters the reward variance by unit (`rewardUnits`). Split-only rows look every 100 requests ' +
      'and never judge rewards. Continuous rows: normal rewards, OLD with its absolute margin and 0/1 floor, NEW with the reward ' +
      "kind `continuous` and margin 0.1 sd. Undecided: no verdict by the row's last request (split-only rows) or inconclusive.",
    '',
    '| situation | rule | rolled back | passed | paused | inconclusive / undecided | to a verdict | allowed | seed |',
    '|---|---|---:|---:|---:|---:|---:|---|---|',
    ...rows,
  ];
}

async function run(options: SimOptions): Promise<string> {
  const runs = options.runs ?? DEFAULT_RUNS;
  const results = await runAll(options, runs);
  return [...situationsSection(results), '', ...gridSection(results, runs)].join('\n');
}

export const decisions: SimPart = {
  name: 'decisions',
  summary: 'issue #24: OLD and NEW guardrail and split rules on rates near 0/1, small canaries, sticky units, correlated and continuous rewards',
  run,
};
