/**
 * Contextual bandit regret: the real learning loop (router → predictions → feedback-joiner
 * → joined → bandit-updater's ridge sums and fitted models → router) against the same
 * algorithm in memory with instant feedback (`regretRun` of the simulation, refit after
 * every reward), on the simulation's problem: three models whose best differs by segment.
 * Linear Thompson sampling and SquareCB, beside today's context-free Thompson sampling
 * through the same loop and the oracle (each segment's best model, regret 0).
 */
import { randomFeatures, toInferInputs } from '@switchyard/demo-models';
import { seededRng } from '@switchyard/strategies';
import { ACCURACY, bestIn, CONTEXT, Contender, drawSegment, MODELS, regretRun, SEGMENTS } from './sim/contextual';
import {
  Options,
  PartResult,
  RUN_ID,
  REDIS_PREFIX,
  Row,
  TOPIC_PREFIX,
  fmt,
  json,
  load1,
  log,
  ratio,
  sleep,
  startService,
  stopService,
  Service,
} from './harness';

/** Demo models standing in for m1..m3: their answers are not scored, the segment's reward is. */
const MODEL_OF: Record<string, string> = { m1: 'churn-v1', m2: 'churn-v2', m3: 'churn-v3' };
const MIN_SHARE = 0.01;
/** Every request's inputs: the models' answers are not what is rewarded here. */
const INPUTS = toInferInputs(randomFeatures(seededRng(0)));
const REFERENCE_REPEATS = 10;
const SEED = 1000;
const CHECKPOINTS = 5;
/** As the context-free regret bench: the services' defaults. */
const REFRESH_INTERVAL_MS = 1000;
const SNAPSHOT_INTERVAL_MS = 250;

interface RealRun {
  regret: number[];
  errors: number;
  /** The first failure's message, if any. */
  firstError?: string;
  seconds: number;
  /** 1-minute load average at its end. */
  load1: number;
}

/** Through the real loop, in this order within each run; the first two are held to the goal. */
const CONTENDERS: Contender[] = ['linear-thompson', 'squarecb', 'context-free thompson'];
const GOAL = 1.3;

/** The strategy a contender is deployed with. */
function strategyOf(contender: Contender): object {
  return contender === 'context-free thompson'
    ? { type: 'bandit', algorithm: 'thompson', minShare: MIN_SHARE }
    : { type: 'bandit', algorithm: contender, minShare: MIN_SHARE, context: CONTEXT };
}

async function putDeployment(router: Service, deployment: string, contender: Contender, modelUrl: string, timeoutMs: number): Promise<void> {
  await json('PUT', `http://127.0.0.1:${router.port}/v1/deployments/${deployment}`, {
    variants: MODELS.map((name) => ({ name, url: modelUrl, model: MODEL_OF[name], protocol: 'v2', timeoutMs })),
    strategy: strategyOf(contender),
    reward: { type: 'explicit' },
  });
}

/**
 * One pass through the real loop at `rate` req/s: each request of a segment drawn as the
 * simulation draws them, its reward (the chosen model's P(correct) in the segment, drawn)
 * sent as feedback at once; expected regret as the simulation counts it.
 */
async function realRun(router: Service, deployment: string, requests: number, rate: number, seed: number): Promise<RealRun> {
  const base = `http://127.0.0.1:${router.port}`;
  const rng = seededRng(seed);
  const segments = Array.from({ length: requests }, () => drawSegment(rng));
  const gaps = new Array<number>(requests).fill(NaN);
  let errors = 0;
  let firstError: string | undefined;
  const inflight: Promise<void>[] = [];
  const t0 = performance.now();
  for (let t = 0; t < requests; t++) {
    const wait = t0 + (t / rate) * 1000 - performance.now();
    if (wait > 0) await sleep(wait);
    const requestId = `${deployment}-${t}`;
    const segment = segments[t];
    const draw = rng();
    inflight.push(
      (async () => {
        try {
          const answer = await json('POST', `${base}/v1/deployments/${deployment}/predict`, {
            requestId,
            inputs: INPUTS,
            context: { segment: SEGMENTS[segment] },
          });
          const p = ACCURACY[answer.variant][segment];
          gaps[t] = bestIn(segment) - p;
          await json('POST', `${base}/v1/feedback`, { requestId, reward: draw < p ? 1 : 0 });
        } catch (error) {
          errors++;
          firstError ??= (error as Error).message;
        }
      })(),
    );
  }
  await Promise.all(inflight);
  let total = 0;
  return { regret: gaps.map((g) => (total += g)), errors, firstError, seconds: (performance.now() - t0) / 1000, load1: load1() };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function runContextualRegretBench(opts: Options, modelUrl: string): Promise<PartResult> {
  const T = opts.requests;
  const at = Array.from({ length: CHECKPOINTS }, (_, i) => Math.round(((i + 1) * T) / CHECKPOINTS));
  const env = { TOPIC_PREFIX, REDIS_PREFIX };
  const router = await startService('router-ctx-regret', 'dist/apps/router/src/main.js', {
    ...env,
    PUBLISH_MODE: 'durable',
    KAFKA_INGRESS: 'false',
    REFRESH_INTERVAL_MS: String(REFRESH_INTERVAL_MS),
    INSTANCE_ID: `${RUN_ID}-ctx-regret-router`,
  });
  const joiner = await startService('feedback-joiner-ctx-regret', 'dist/apps/feedback-joiner/src/main.js', {
    ...env,
    JOIN_GROUP: `${RUN_ID}-ctx-regret-joiner`,
    INSTANCE_ID: `${RUN_ID}-ctx-regret-joiner`,
  });
  const updater = await startService('bandit-updater-ctx-regret', 'dist/apps/bandit-updater/src/main.js', {
    ...env,
    UPDATE_GROUP: `${RUN_ID}-ctx-regret-updater`,
    INSTANCE_ID: `${RUN_ID}-ctx-regret-updater`,
    SNAPSHOT_INTERVAL_MS: String(SNAPSHOT_INTERVAL_MS),
  });
  const reals = new Map<Contender, RealRun[]>(CONTENDERS.map((c) => [c, []]));
  try {
    // Consumer groups join and topics get their first batches here, not in a measured run.
    await putDeployment(router, 'ctx-regret-warm', 'linear-thompson', modelUrl, opts.regretTimeoutMs);
    await realRun(router, 'ctx-regret-warm', 50, 25, SEED - 1);
    // Runs interleaved (each contender's run r on the same request stream, seed SEED + r), so that a change of the machine's load falls on every contender alike.
    for (let run = 1; run <= opts.regretRuns; run++) {
      for (const contender of CONTENDERS) {
        const deployment = `ctx-regret-${contender.replace(/[^a-z]+/g, '-')}-${run}`;
        await putDeployment(router, deployment, contender, modelUrl, opts.regretTimeoutMs);
        log(`regret-contextual: ${contender}, real loop run ${run} of ${opts.regretRuns}, ${T} requests at ${opts.regretRate} req/s`);
        const real = await realRun(router, deployment, T, opts.regretRate, SEED + run);
        if (real.errors)
          throw new Error(`regret-contextual: ${real.errors} of ${T} requests failed in ${contender} run ${run}, the first with ${real.firstError}`);
        reals.get(contender)!.push(real);
        log(`regret-contextual: ${contender} run ${run}: regret ${at.map((n) => `${n}: ${fmt(real.regret[n - 1], 1)}`).join(', ')}; load ${real.load1}`);
      }
    }
  } finally {
    for (const service of [router, joiner, updater]) await stopService(service);
  }

  // After the real runs, so that their failures show at once and nothing else loads the machine meanwhile.
  const refs = new Map<Contender, number[][]>();
  for (const contender of CONTENDERS) {
    const started = performance.now();
    const runs = Array.from({ length: REFERENCE_REPEATS }, (_, i) =>
      Array.from(regretRun(contender, SEED + i, { requests: T, batch: 1, delay: 0, minShare: MIN_SHARE })),
    );
    refs.set(contender, runs);
    log(
      `regret-contextual: reference, ${REFERENCE_REPEATS} in-memory ${contender} runs in ${((performance.now() - started) / 1000).toFixed(1)} s; final regret mean ${fmt(mean(runs.map((r) => r[T - 1])), 1)}`,
    );
  }

  const realAt = (c: Contender, n: number) => median(reals.get(c)!.map((r) => r.regret[n - 1]));
  const refAt = (c: Contender, n: number) => mean(refs.get(c)!.map((r) => r[n - 1]));
  const rows: Row[] = CONTENDERS.flatMap((c) =>
    reals.get(c)!.map((r, i) => ({
      id: `regret-contextual-${c.replace(/[^a-z]+/g, '-')}-${i + 1}`,
      label: `${c} through the real loop, final regret ${fmt(r.regret[T - 1], 1)}`,
      target: 'router+joiner+updater',
      mode: 'rate' as const,
      offered: opts.regretRate,
      rps: T / r.seconds,
      errors: r.errors,
      peakRssIsRunPeak: true,
      load1: r.load1,
    })),
  );
  const loads = CONTENDERS.flatMap((c) => reals.get(c)!.map((r) => r.load1));
  const runs = reals.get(CONTENDERS[0])!.length;
  const section = [
    `### Contextual bandit regret: real loop vs in-memory reference with instant feedback`,
    '',
    `The problem of \`npm run sim -- --only contextual\` (three models, segments ${SEGMENTS.join('/')}, P(correct) ${MODELS.map((m) => `${m} ${ACCURACY[m].join('/')}`).join(', ')}), ` +
      `served by the real loop: the router draws with the updater's fitted models per request (segment in the predict body's \`context\`), each answer's reward sent at once as \`explicit\` feedback. ` +
      `minShare ${MIN_SHARE}; ${runs} real run(s) per contender at ${opts.regretRate} req/s, ${T} requests each, runs interleaved across contenders; router REFRESH_INTERVAL_MS=${REFRESH_INTERVAL_MS}, updater SNAPSHOT_INTERVAL_MS=${SNAPSHOT_INTERVAL_MS}, variants' timeoutMs ${opts.regretTimeoutMs}; ` +
      `1-minute load average after each run ${fmt(Math.min(...loads), 1)}–${fmt(Math.max(...loads), 1)}. ` +
      `Reference: per contender, ${REFERENCE_REPEATS} in-memory runs of the same algorithm (seeds ${SEED}–${SEED + REFERENCE_REPEATS - 1}), models refit after every reward. ` +
      `Regret: Σ (best P(correct) in the request's segment − the chosen model's), expected, so the oracle's (each segment's best model) is 0. Cells: real median / reference mean (ratio).`,
    '',
    `| after request | ${CONTENDERS.join(' | ')} | oracle |`,
    `|---:|${CONTENDERS.map(() => '---:|').join('')}---:|`,
    ...at.map(
      (n) => `| ${n} | ${CONTENDERS.map((c) => `${fmt(realAt(c, n), 1)} / ${fmt(refAt(c, n), 1)} (${fmt(realAt(c, n) / refAt(c, n))})`).join(' | ')} | 0 |`,
    ),
    '',
    `Final regret of each real run: ${CONTENDERS.map(
      (c) =>
        `${c} ${reals
          .get(c)!
          .map((r) => fmt(r.regret[T - 1], 1))
          .join(', ')}`,
    ).join('; ')}.`,
  ].join('\n');
  return {
    rows,
    ratios: CONTENDERS.flatMap((c) => {
      const name = `${c} regret: real loop median / in-memory reference (instant feedback)`;
      const value = realAt(c, T) / refAt(c, T);
      return [
        c === 'context-free thompson' ? ratio(name, value, '(info)') : ratio(name, value, `≤ ${GOAL.toFixed(2)}`, (v) => v <= GOAL),
        ratio(`${c} regret: real loop, final median`, realAt(c, T), '(info)'),
        ratio(`${c} regret: in-memory reference, final`, refAt(c, T), '(info)'),
      ];
    }),
    sections: [section],
  };
}
