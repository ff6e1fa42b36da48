/**
 * The part `latency`: the p99 latency guardrail (`operationalFailures` with GUARDRAIL_DEFAULTS)
 * looked at after every batch of a 10 % canary, as the rollout controller looks, beside the
 * rule it replaced (`baselineLatencyFailure`: the p99 estimates' bucket edges). Latencies are
 * lognormal, with what a loaded machine adds: requests that stall (a GC pause, a busy core)
 * and bursts where every request, of either arm, is slower. The A/A rows are the false
 * rollbacks, which the guardrail must keep within alpha/2; the slower-candidate rows are how
 * many requests it takes to catch one.
 */
import { GUARDRAIL_DEFAULTS } from '@switchyard/contracts';
import {
  type ArmEvidence,
  type GuardrailSettings,
  LATENCY_BUCKETS_MS,
  latencyBucket,
  operationalFailures,
  type Rng,
  sampleNormal,
  seededRng,
} from '@switchyard/strategies';
import { baselineLatencyFailure } from './baseline';
import type { SimOptions, SimPart } from './part';

const DEFAULT_RUNS = 1000;
const BATCH = 100;
const MAX_REQUESTS = 20_000;
const CANARY_SHARE = 0.1;
const NAMES = { candidate: 'canary', primary: 'primary' };
const SETTINGS: GuardrailSettings = { ...GUARDRAIL_DEFAULTS, rewardKind: 'binary' };

/** One arm's latency law: lognormal around `medianMs`, a share `stall` of requests slowed by a uniform draw in `stallMs`. */
interface Latency {
  medianMs: number;
  sigma: number;
  stall: number;
  stallMs: readonly [number, number];
}

interface Scenario {
  name: string;
  canary: Latency;
  primary: Latency;
  /** Load bursts shared by both arms: entered with this chance per request, left with 1/50, every latency ×8 inside. */
  burst: number;
  /** Whether a correct rule fails the canary here. */
  slower: boolean;
}

const STEADY: Latency = { medianMs: 6, sigma: 0.4, stall: 0, stallMs: [0, 0] };
const STALLS: Latency = { ...STEADY, stall: 0.01, stallMs: [50, 500] };
const SCENARIOS: readonly Scenario[] = [
  { name: 'A/A, steady', canary: STEADY, primary: STEADY, burst: 0, slower: false },
  { name: 'A/A, 1 % of requests stall 50–500 ms', canary: STALLS, primary: STALLS, burst: 0, slower: false },
  { name: 'A/A, load bursts (≈ 9 % of requests ×8)', canary: STEADY, primary: STEADY, burst: 0.002, slower: false },
  { name: 'canary 2× slower (at maxLatencyRatio)', canary: { ...STEADY, medianMs: 12 }, primary: STEADY, burst: 0, slower: false },
  { name: 'canary 5× slower', canary: { ...STEADY, medianMs: 30 }, primary: STEADY, burst: 0, slower: true },
  { name: 'canary: 3 % of requests 300 ms slower', canary: { ...STEADY, stall: 0.03, stallMs: [300, 300] }, primary: STEADY, burst: 0, slower: true },
];

function sampleLatency(rng: Rng, law: Latency, inBurst: boolean): number {
  let ms = law.medianMs * Math.exp(law.sigma * sampleNormal(rng));
  if (rng() < law.stall) ms += law.stallMs[0] + (law.stallMs[1] - law.stallMs[0]) * rng();
  return inBurst ? 8 * ms : ms;
}

/** An arm the simulation counts into. */
type CountedArm = ArmEvidence & { latencyBuckets: number[] };

function emptyArm(): CountedArm {
  return { rewards: { count: 0, sum: 0, sumSq: 0 }, requests: 0, errors: 0, latencyBuckets: LATENCY_BUCKETS_MS.map(() => 0) };
}

/** The first look (in requests) at which each rule fails the canary, or undefined. */
function simulateRun(rng: Rng, scenario: Scenario): { current?: number; baseline?: number } {
  const [canary, primary] = [emptyArm(), emptyArm()];
  const found: { current?: number; baseline?: number } = {};
  let inBurst = false;
  for (let requests = 0; requests < MAX_REQUESTS && (found.current === undefined || found.baseline === undefined);) {
    for (let i = 0; i < BATCH; i++, requests++) {
      inBurst = inBurst ? rng() >= 1 / 50 : rng() < scenario.burst;
      const [arm, law] = rng() < CANARY_SHARE ? [canary, scenario.canary] : [primary, scenario.primary];
      arm.requests++;
      arm.latencyBuckets[latencyBucket(sampleLatency(rng, law, inBurst))]++;
    }
    if (found.current === undefined && operationalFailures(NAMES, canary, primary, SETTINGS).length) found.current = requests;
    if (found.baseline === undefined && baselineLatencyFailure(canary, primary, SETTINGS)) found.baseline = requests;
  }
  return found;
}

const percent = (count: number, runs: number) => `${((100 * count) / runs).toFixed(1)} %`;

function median(values: number[]): string {
  if (!values.length) return '–';
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)].toLocaleString('en-US');
}

function run(options: SimOptions): string {
  const runs = options.runs ?? DEFAULT_RUNS;
  const rows = SCENARIOS.map((scenario, index) => {
    const rng = seededRng(options.seed * 1000 + index);
    const current: number[] = [];
    const baseline: number[] = [];
    for (let r = 0; r < runs; r++) {
      const found = simulateRun(rng, scenario);
      if (found.current !== undefined) current.push(found.current);
      if (found.baseline !== undefined) baseline.push(found.baseline);
    }
    const goal = scenario.slower ? 'fails ≥ 95 %' : `fails ≤ ${percent(SETTINGS.alpha / 2, 1)}`;
    const met = scenario.slower ? current.length >= 0.95 * runs : current.length <= (SETTINGS.alpha / 2) * runs;
    return (
      `| ${scenario.name} | ${runs} | ${percent(current.length, runs)} | ${median(current)} | ` +
      `${percent(baseline.length, runs)} | ${median(baseline)} | ${goal}: ${met ? 'met' : '**not met**'} |`
    );
  });
  return [
    '## Latency guardrail: the p99 ratio looked at after every batch',
    '',
    `A ${100 * CANARY_SHARE} % canary, \`operationalFailures\` with GUARDRAIL_DEFAULTS (maxLatencyRatio ${SETTINGS.maxLatencyRatio}, ` +
      `alpha ${SETTINGS.alpha}, minSamples ${SETTINGS.minSamples} successes per arm) after every ${BATCH} requests up to ` +
      `${MAX_REQUESTS.toLocaleString('en-US')}. Latencies lognormal (median 6 ms, σ 0.4: p99 15 ms) unless the row says otherwise, read into the ` +
      `buckets the router counts. Now: always-valid bounds on each p99 (libs/strategies/src/quantile-bounds.ts). Before: the p99 ` +
      `estimates' bucket edges (the rule until this part was written). Requests: median over the runs that failed, at the first look that failed.`,
    '',
    '| scenario | runs | now: failed | now: requests | before: failed | before: requests | goal |',
    '|---|---:|---:|---:|---:|---:|---|',
    ...rows,
  ].join('\n');
}

export const latency: SimPart = {
  name: 'latency',
  summary: 'p99 latency guardrail on a 10 % canary, A/A under stalls and load bursts and slower canaries, against the old point-estimate rule',
  run,
};
