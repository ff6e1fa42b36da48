/**
 * Contextual bandit regret: the real learning loop (router → predictions → feedback-joiner
 * → joined → bandit-updater's ridge sums and fitted models → router) against the same
 * linear Thompson sampling in memory with instant feedback (`regretRun` of the simulation,
 * refit after every reward), on the simulation's problem: three models whose best differs
 * by segment.
 */
import { randomFeatures, toInferInputs } from '@switchyard/demo-models';
import { seededRng } from '@switchyard/strategies';
import { ACCURACY, bestIn, CONTEXT, drawSegment, MODELS, regretRun, SEGMENTS } from './sim/contextual';
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
}

async function putContextual(router: Service, deployment: string, modelUrl: string): Promise<void> {
  await json('PUT', `http://127.0.0.1:${router.port}/v1/deployments/${deployment}`, {
    variants: MODELS.map((name) => ({ name, url: modelUrl, model: MODEL_OF[name], protocol: 'v2', timeoutMs: 1000 })),
    strategy: { type: 'bandit', algorithm: 'linear-thompson', minShare: MIN_SHARE, context: CONTEXT },
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
  return { regret: gaps.map((g) => (total += g)), errors, firstError, seconds: (performance.now() - t0) / 1000 };
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
  const reals: RealRun[] = [];
  try {
    // Consumer groups join and topics get their first batches here, not in a measured run.
    await putContextual(router, 'ctx-regret-warm', modelUrl);
    await realRun(router, 'ctx-regret-warm', 50, 25, SEED - 1);
    for (let run = 1; run <= opts.regretRuns; run++) {
      const deployment = `ctx-regret-${run}`;
      await putContextual(router, deployment, modelUrl);
      log(`regret-contextual: real loop run ${run} of ${opts.regretRuns}, ${T} requests at ${opts.regretRate} req/s`);
      const real = await realRun(router, deployment, T, opts.regretRate, SEED + run);
      if (real.errors) throw new Error(`regret-contextual: ${real.errors} of ${T} requests failed in run ${run}, the first with ${real.firstError}`);
      reals.push(real);
      log(`regret-contextual: run ${run}: regret ${at.map((n) => `${n}: ${fmt(real.regret[n - 1], 1)}`).join(', ')}`);
    }
  } finally {
    for (const service of [router, joiner, updater]) await stopService(service);
  }

  // After the real runs, so that their failures show at once and nothing else loads the machine meanwhile.
  const started = performance.now();
  const refs = Array.from({ length: REFERENCE_REPEATS }, (_, i) =>
    Array.from(regretRun('linear-thompson', SEED + i, { requests: T, batch: 1, delay: 0, minShare: MIN_SHARE })),
  );
  log(
    `regret-contextual: reference, ${REFERENCE_REPEATS} in-memory linear Thompson runs in ${((performance.now() - started) / 1000).toFixed(1)} s; final regret mean ${fmt(mean(refs.map((r) => r[T - 1])), 1)}`,
  );

  const realMedian = median(reals.map((r) => r.regret[T - 1]));
  const refFinal = mean(refs.map((r) => r[T - 1]));
  const rows: Row[] = reals.map((r, i) => ({
    id: `regret-contextual-${i + 1}`,
    label: `contextual bandit linear-thompson through the real loop, final regret ${fmt(r.regret[T - 1], 1)}`,
    target: 'router+joiner+updater',
    mode: 'rate',
    offered: opts.regretRate,
    rps: T / r.seconds,
    errors: r.errors,
    peakRssIsRunPeak: true,
    load1: load1(),
  }));
  const range = (xs: number[]) => `${fmt(mean(xs), 1)} (${fmt(Math.min(...xs), 1)}–${fmt(Math.max(...xs), 1)})`;
  const section = [
    `### Contextual bandit regret: real loop vs in-memory linear Thompson with instant feedback`,
    '',
    `The problem of \`npm run sim -- --only contextual\` (three models, segments ${SEGMENTS.join('/')}, P(correct) ${MODELS.map((m) => `${m} ${ACCURACY[m].join('/')}`).join(', ')}), ` +
      `served by the real loop: the router draws with the updater's fitted models per request (segment in the predict body's \`context\`), each answer's reward sent at once as \`explicit\` feedback. ` +
      `linear-thompson, minShare ${MIN_SHARE}; ${reals.length} real run(s) at ${opts.regretRate} req/s, router REFRESH_INTERVAL_MS=${REFRESH_INTERVAL_MS}, updater SNAPSHOT_INTERVAL_MS=${SNAPSHOT_INTERVAL_MS}. ` +
      `Reference: ${REFERENCE_REPEATS} in-memory runs (seeds ${SEED}–${SEED + REFERENCE_REPEATS - 1}), models refit after every reward. Regret: Σ (best P(correct) in the request's segment − the chosen model's), expected.`,
    '',
    `| after request | ${reals.map((_, i) => `real run ${i + 1}`).join(' | ')} | real median | reference mean (min–max) | real median / reference |`,
    `|---:|${reals.map(() => '---:|').join('')}---:|---:|---:|`,
    ...at.map((n) => {
      const m = median(reals.map((r) => r.regret[n - 1]));
      return `| ${n} | ${reals.map((r) => fmt(r.regret[n - 1], 1)).join(' | ')} | ${fmt(m, 1)} | ${range(refs.map((r) => r[n - 1]))} | ${fmt(m / mean(refs.map((r) => r[n - 1])))} |`;
    }),
  ].join('\n');
  return {
    rows,
    ratios: [
      ratio('contextual bandit regret: real loop median / in-memory reference (instant feedback)', realMedian / refFinal, '≤ 1.30', (v) => v <= 1.3),
      ratio('contextual bandit regret: real loop, final median', realMedian, '(info)'),
      ratio('contextual bandit regret: in-memory reference, final', refFinal, '(info)'),
    ],
    sections: [section],
  };
}
