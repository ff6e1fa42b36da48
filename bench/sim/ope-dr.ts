/**
 * `npm run sim -- --only ope-dr`: the off-policy estimators (DM, IPS, SNIPS, DR, SNDR) on
 * logs of known ground truth, in the shape of Open Bandit Pipeline's benchmark table
 * (Saito et al., "Open Bandit Dataset and Pipeline", NeurIPS 2021 Datasets and
 * Benchmarks: relative estimation error per estimator). The log is the contextual
 * problem of contextual.ts served by today's context-free Thompson bandit, rewards
 * delayed, each request logging its segment and its propensity. Deterministic from `seed`.
 */
import {
  addReward,
  addRidge,
  ArmStats,
  banditWeights,
  chooseArm,
  ContextualPolicy,
  contextualPolicy,
  ContextualSample,
  emptyRidgeStats,
  emptyStats,
  evaluateOffPolicy,
  fitArmModels,
  fixedPolicy,
  ridgeObservation,
  RidgeStats,
  seededRng,
  Weights,
} from '@switchyard/strategies';
import { ACCURACY, contextOf, drawSegment, MODELS, SEGMENT_SHARE, SEGMENTS } from './contextual';
import type { SimPart } from './part';

const METHODS = ['dm', 'ips', 'snips', 'dr', 'sndr'] as const;
type Method = (typeof METHODS)[number];

interface LogOptions {
  requests: number;
  batch: number;
  delay: number;
  minShare: number;
}

/** One run of traffic served by context-free Thompson, as the router serves it today, with each request's context. */
function logContextFreeThompson(seed: number, opts: LogOptions): ContextualSample[] {
  const rng = seededRng(seed);
  const stats = new Map<string, ArmStats>(MODELS.map((m) => [m, emptyStats()]));
  const log: ContextualSample[] = [];
  let weights: Weights = {};
  let counted = 0;
  for (let t = 0; t < opts.requests; t++) {
    if (t % opts.batch === 0) {
      for (const known = Math.max(0, t - opts.delay); counted < known; counted++) {
        stats.set(log[counted].variant, addReward(stats.get(log[counted].variant)!, log[counted].reward));
      }
      weights = banditWeights(
        'thompson',
        MODELS.map((name) => ({ name, stats: stats.get(name) })),
        { rng, minShare: opts.minShare, rewardKind: 'binary' },
      );
    }
    const segment = drawSegment(rng);
    const choice = chooseArm(weights, rng);
    log.push({ ...choice, reward: rng() < ACCURACY[choice.variant][segment] ? 1 : 0, x: contextOf(segment) });
  }
  return log;
}

/** A LinUCB bandit frozen after learning on a log of its own (seeded apart from every run): a contextual policy given by its parameters. */
function frozenLinUcb(seed: number, requests: number): ContextualPolicy {
  const rng = seededRng(seed);
  const dimension = contextOf(0).length;
  const stats = new Map<string, RidgeStats>(MODELS.map((m) => [m, emptyRidgeStats(dimension)]));
  for (let t = 0; t < requests; t++) {
    const segment = drawSegment(rng);
    const arm = MODELS[Math.floor(rng() * MODELS.length)];
    stats.set(arm, addRidge(stats.get(arm)!, ridgeObservation(contextOf(segment), rng() < ACCURACY[arm][segment] ? 1 : 0)));
  }
  const models = fitArmModels(
    MODELS.map((name) => ({ name, stats: stats.get(name) })),
    { rewardKind: 'binary', dimension },
  );
  return contextualPolicy('linucb', models, { minShare: 0.05 });
}

/** The exact mean reward of a policy: Σ segments share × Σ models π(m | segment) × P(correct). */
function trueValue(policy: ContextualPolicy): number {
  return SEGMENT_SHARE.reduce((sum, share, s) => {
    const pi = policy(contextOf(s));
    return sum + share * MODELS.reduce((inner, m) => inner + (pi[m] ?? 0) * ACCURACY[m][s], 0);
  }, 0);
}

interface Tally {
  runs: number;
  refused: number;
  relError: number[];
  covered: number;
  ess: number;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: readonly number[]) => Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / Math.max(1, xs.length - 1));
const pct = (x: number, of: number) => (of ? `${((100 * x) / of).toFixed(1)} %` : '–');

export async function runDoublyRobustSimulation(opts: { runs: number; seed: number } & Partial<LogOptions>): Promise<string> {
  const log: LogOptions = { requests: opts.requests ?? 3000, batch: opts.batch ?? 100, delay: opts.delay ?? 200, minShare: opts.minShare ?? 0.05 };
  const policySeed = opts.seed + 1_000_000;
  const oracle: Weights[] = SEGMENTS.map((_, s) => {
    const best = MODELS.reduce((a, b) => (ACCURACY[b][s] > ACCURACY[a][s] ? b : a));
    return { [best]: 1 };
  });
  const targets: { name: string; policy: ContextualPolicy }[] = [
    { name: 'single m1', policy: fixedPolicy({ m1: 1 }) },
    { name: 'single m3', policy: fixedPolicy({ m3: 1 }) },
    { name: 'per-segment best (oracle)', policy: (x) => oracle[x.slice(1).indexOf(1)] },
    { name: `LinUCB frozen after 2000 uniform requests (seed ${policySeed})`, policy: frozenLinUcb(policySeed, 2000) },
  ];
  const truths = targets.map((t) => trueValue(t.policy));
  const tallies = targets.map(() => new Map<Method, Tally>(METHODS.map((m) => [m, { runs: 0, refused: 0, relError: [], covered: 0, ess: 0 }])));
  for (let run = 0; run < opts.runs; run++) {
    const samples = logContextFreeThompson(opts.seed + run, log);
    targets.forEach((target, k) => {
      const { refusals, estimates } = evaluateOffPolicy(samples, target.policy);
      for (const method of METHODS) {
        const tally = tallies[k].get(method)!;
        tally.runs++;
        if (refusals.length) {
          tally.refused++;
          continue;
        }
        const e = estimates[method];
        tally.relError.push(Math.abs(e.estimate - truths[k]) / truths[k]);
        if (e.low <= truths[k] && truths[k] <= e.high) tally.covered++;
        tally.ess += e.ess;
      }
    });
    if (run % 20 === 19) await new Promise((resolve) => setImmediate(resolve));
  }

  const overall = (method: Method) => mean(tallies.flatMap((t) => t.get(method)!.relError));
  const lines = [
    `Logged traffic: today's context-free Thompson (\`banditWeights\`, minShare ${log.minShare}) on the problem of the contextual table (3 models, 3 segments), ${log.requests} requests per run, rewards known ${log.delay} requests later, weights refreshed every ${log.batch}; each request logs its segment (one-hot) and its propensity. ${opts.runs} runs (seeds ${opts.seed}–${opts.seed + opts.runs - 1}). ` +
      `Reward model of DM, DR and SNDR: ridge (λ = 1) per model on the segment, cross-fitted over 5 folds. ` +
      `Relative error |V̂ − V| / V, mean ± sd over the runs not refused (ESS ≥ 30, every variant the target uses logged); coverage of the 95 % interval among them.`,
    '',
    `| estimator | ${targets.map((t, k) => `${t.name} (V = ${truths[k].toFixed(3)})`).join(' | ')} | mean relative error, all targets |`,
    `|---|${targets.map(() => '---:').join('|')}|---:|`,
    ...METHODS.map((method) => {
      const cells = tallies.map((t) => {
        const tally = t.get(method)!;
        const kept = tally.runs - tally.refused;
        if (!kept) return `refused ${pct(tally.refused, tally.runs)}`;
        return `${mean(tally.relError).toFixed(4)} ± ${sd(tally.relError).toFixed(4)}, cov. ${pct(tally.covered, kept)}${tally.refused ? `, refused ${pct(tally.refused, tally.runs)}` : ''}`;
      });
      return `| ${method.toUpperCase()} | ${cells.join(' | ')} | ${overall(method).toFixed(4)} |`;
    }),
    '',
    `Mean ESS of the weights (the same for every estimator): ${tallies.map((t, k) => `${targets[k].name} ${(t.get('dr')!.ess / Math.max(1, t.get('dr')!.runs - t.get('dr')!.refused)).toFixed(0)}`).join(', ')}.`,
    `DR's mean relative error ${overall('dr') < overall('snips') ? 'is below' : 'is NOT below'} SNIPS's (${overall('dr').toFixed(4)} vs ${overall('snips').toFixed(4)}).`,
  ];
  return lines.join('\n');
}

/** The part `ope-dr` of `npm run sim`. */
export const opeDr: SimPart = {
  name: 'ope-dr',
  summary: 'off-policy evaluation with a reward model: relative error and coverage of DM, IPS, SNIPS, DR, SNDR (Open Bandit Pipeline table)',
  async run({ runs, seed }) {
    return `### Off-policy estimators on a contextual log of known ground truth\n\n${await runDoublyRobustSimulation({ runs: runs ?? 500, seed })}`;
  },
};
