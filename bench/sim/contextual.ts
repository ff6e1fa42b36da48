/**
 * `npm run sim -- --only contextual`: cumulative regret of the contextual bandits (linear
 * Thompson, LinUCB, SquareCB) against today's context-free Thompson and an oracle that knows each
 * segment's best model, on a problem whose best model differs by segment, in memory with
 * the real functions of libs/strategies. Rewards are delayed and the models refit in
 * batches, as a router's snapshots would be. Deterministic from `seed`.
 */
import type { ContextSpec, ContextualBanditAlgorithm } from '@switchyard/contracts';
import {
  addReward,
  addRidge,
  ArmModel,
  ArmStats,
  banditWeights,
  chooseArm,
  contextualWeights,
  emptyRidgeStats,
  emptyStats,
  extractContext,
  fitArmModels,
  ridgeObservation,
  RidgeStats,
  Rng,
  seededRng,
  Weights,
} from '@switchyard/strategies';
import type { SimPart } from './part';

/** Three models, three segments: card-present payments, online, phone orders. */
export const MODELS = ['m1', 'm2', 'm3'] as const;
export const SEGMENTS = ['store', 'online', 'phone'] as const;
/** Share of requests per segment. */
export const SEGMENT_SHARE = [0.5, 0.3, 0.2];
/** P(correct) of each model in each segment: m1 best in store, m2 online, m3 by phone; m2 best overall. */
export const ACCURACY: Record<string, number[]> = { m1: [0.85, 0.55, 0.65], m2: [0.75, 0.8, 0.6], m3: [0.7, 0.7, 0.8] };
/** The bandit's context: the segment, one-hot, read from the predict body's `context`. */
export const CONTEXT: ContextSpec = { features: [{ name: 'segment', type: 'categorical', context: 'segment', levels: [...SEGMENTS] }] };

export function drawSegment(rng: Rng): number {
  const u = rng();
  let cumulative = 0;
  for (let s = 0; s < SEGMENT_SHARE.length; s++) {
    cumulative += SEGMENT_SHARE[s];
    if (u < cumulative) return s;
  }
  return SEGMENT_SHARE.length - 1;
}

/** The encoded context of a request of segment `s`, through the real extraction. */
export function contextOf(segment: number): number[] {
  const extracted = extractContext(CONTEXT, { inputs: [], context: { segment: SEGMENTS[segment] } });
  if (!extracted.ok) throw new Error(extracted.reason);
  return extracted.x;
}

export const bestIn = (segment: number) => Math.max(...MODELS.map((m) => ACCURACY[m][segment]));

export type Contender = 'context-free thompson' | ContextualBanditAlgorithm;
const CONTENDERS: Contender[] = ['context-free thompson', 'linear-thompson', 'linucb', 'squarecb'];

export interface RegretOptions {
  requests: number;
  /** Requests between two refits of the models (a router's snapshot interval, in requests). */
  batch: number;
  /** Requests after which a reward is known (the label's delay). */
  delay: number;
  minShare: number;
}

/**
 * Expected regret after each request of one run: Σ (best accuracy in the request's
 * segment − the chosen model's), so that runs compare by their choices, not by the luck
 * of the draws (as bench/regret-oracle.ts does).
 */
export function regretRun(contender: Contender, seed: number, opts: RegretOptions): Float64Array {
  const rng = seededRng(seed);
  const contexts = SEGMENTS.map((_, s) => contextOf(s));
  const dimension = contexts[0].length;
  const segments = new Int32Array(opts.requests);
  const chosen: string[] = new Array<string>(opts.requests);
  const rewards = new Float64Array(opts.requests);
  const pooled = new Map<string, ArmStats>(MODELS.map((m) => [m, emptyStats()]));
  const ridge = new Map<string, RidgeStats>(MODELS.map((m) => [m, emptyRidgeStats(dimension)]));
  const regret = new Float64Array(opts.requests);
  let counted = 0;
  let total = 0;
  let models: ArmModel[] = [];
  let weights: Weights = {};
  // Per segment, the weights of the current refit: contexts are discrete here, so each
  // segment's weights (linear Thompson's Monte Carlo included) are computed once per refit.
  let perSegment: Weights[] = [];
  for (let t = 0; t < opts.requests; t++) {
    if (t % opts.batch === 0) {
      for (const known = Math.max(0, t - opts.delay); counted < known; counted++) {
        const arm = chosen[counted];
        pooled.set(arm, addReward(pooled.get(arm)!, rewards[counted]));
        ridge.set(arm, addRidge(ridge.get(arm)!, ridgeObservation(contexts[segments[counted]], rewards[counted])));
      }
      if (contender === 'context-free thompson') {
        weights = banditWeights(
          'thompson',
          MODELS.map((name) => ({ name, stats: pooled.get(name) })),
          { rng, minShare: opts.minShare, rewardKind: 'binary' },
        );
      } else {
        models = fitArmModels(
          MODELS.map((name) => ({ name, stats: ridge.get(name) })),
          { rewardKind: 'binary', dimension },
        );
        perSegment = contexts.map((x) => contextualWeights(contender, models, x, { rng, minShare: opts.minShare }));
      }
    }
    const segment = drawSegment(rng);
    const { variant } = chooseArm(contender === 'context-free thompson' ? weights : perSegment[segment], rng);
    segments[t] = segment;
    chosen[t] = variant;
    rewards[t] = rng() < ACCURACY[variant][segment] ? 1 : 0;
    total += bestIn(segment) - ACCURACY[variant][segment];
    regret[t] = total;
  }
  return regret;
}

const fmt = (x: number, digits = 0) => x.toFixed(digits);

export async function runContextualRegret(opts: { runs: number; seed: number } & Partial<RegretOptions>): Promise<string> {
  const options: RegretOptions = { requests: opts.requests ?? 10_000, batch: opts.batch ?? 100, delay: opts.delay ?? 200, minShare: opts.minShare ?? 0.01 };
  const checkpoints = [500, 1000, 2500, 5000, 10_000].filter((n) => n <= options.requests);
  const results = new Map<Contender, Float64Array[]>(CONTENDERS.map((c) => [c, []]));
  for (let run = 0; run < opts.runs; run++) {
    for (const contender of CONTENDERS) results.get(contender)!.push(regretRun(contender, opts.seed + run, options));
    await new Promise((resolve) => setImmediate(resolve));
  }
  const oracleValue = SEGMENT_SHARE.reduce((sum, share, s) => sum + share * bestIn(s), 0);
  const contextFreeValue = Math.max(...MODELS.map((m) => SEGMENT_SHARE.reduce((sum, share, s) => sum + share * ACCURACY[m][s], 0)));
  const lines = [
    `Three models, three segments (${SEGMENTS.map((s, i) => `${s} ${SEGMENT_SHARE[i] * 100} %`).join(', ')}); P(correct): ${MODELS.map((m) => `${m} ${ACCURACY[m].join('/')}`).join(', ')}. ` +
      `The oracle serves each segment its best model (expected reward ${fmt(oracleValue, 3)}); the best single model earns ${fmt(contextFreeValue, 3)}. ` +
      `Context: the segment, one-hot (\`{"features": [{"name": "segment", "type": "categorical", "context": "segment", "levels": [...]}]}\`). ` +
      `Rewards known ${options.delay} requests later, models refit every ${options.batch} requests, minShare ${options.minShare}; ${opts.runs} runs (seeds ${opts.seed}–${opts.seed + opts.runs - 1}). ` +
      `Regret: Σ (best P(correct) in the request's segment − the chosen model's), expected, so 0 for the oracle; mean (min–max) over the runs. In memory, not through the real loop.`,
    '',
    `| after request | ${CONTENDERS.join(' | ')} |`,
    `|---:|${CONTENDERS.map(() => '---:').join('|')}|`,
    ...checkpoints.map((n) => {
      const cells = CONTENDERS.map((c) => {
        const at = results.get(c)!.map((r) => r[n - 1]);
        return `${fmt(at.reduce((a, b) => a + b, 0) / at.length, 1)} (${fmt(Math.min(...at), 1)}–${fmt(Math.max(...at), 1)})`;
      });
      return `| ${n} | ${cells.join(' | ')} |`;
    }),
  ];
  return lines.join('\n');
}

/** The part `contextual` of `npm run sim`. */
export const contextual: SimPart = {
  name: 'contextual',
  summary: 'contextual bandits: regret of linear Thompson, LinUCB and SquareCB against context-free Thompson and a per-segment oracle',
  async run({ runs, seed }) {
    return `### Contextual bandits: regret when the best model depends on the segment\n\n${await runContextualRegret({ runs: runs ?? 20, seed })}`;
  },
};
