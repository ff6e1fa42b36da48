/**
 * Bandit regret: the real learning loop (router → predictions → feedback-joiner → joined →
 * bandit-updater → Redis → router) against an in-memory Thompson reference that learns
 * from every reward before the next request, on the same arms and the same feature stream.
 */
import { groundTruth, predict, randomFeatures, seededRng, toInferInputs } from '@switchyard/demo-models';
import { topicNames } from '@switchyard/contracts';
import { DEFAULT_MIN_SHARE } from '@switchyard/strategies';
import { BanditSimulationOptions, cumulativeRegret, simulateBandit } from './regret-oracle';
import {
  Options,
  PartResult,
  RUN_ID,
  REDIS_PREFIX,
  Row,
  Service,
  TOPIC_PREFIX,
  brokers,
  fmt,
  json,
  load1,
  log,
  ratio,
  sleep,
  startService,
  stopService,
} from './harness';

const ARMS = ['v1', 'v2', 'v3'];
const MODEL_OF: Record<string, string> = { v1: 'churn-v1', v2: 'churn-v2', v3: 'churn-v3' };
/** The seed of the feature stream, shared by the real loop and the reference. */
const SEED = 7;
/** The product default, so the floor's share of the regret is what a deployment would pay. */
const MIN_SHARE = DEFAULT_MIN_SHARE;
/** The router's default: the loop is measured as it would be deployed. */
const REFRESH_INTERVAL_MS = 1000;
/** The updater's default, for the same reason. */
const SNAPSHOT_INTERVAL_MS = 250;
/** Reference runs averaged (about 2.5 s each for 2000 requests: Thompson draws 1000 samples per reward). */
const REFERENCE_REPEATS = 10;
/** Delayed reference runs per real run (cheap: weights once per snapshot), enough to place the real run among them. */
const DELAYED_REPEATS = 20;
const CHECKPOINTS = 5;

interface Stream {
  features: number[][];
  /** Whether each arm's model answers request t right: the reward it would earn there. */
  right: Array<Record<string, number>>;
  /** Each arm's accuracy over this stream: the expected reward regret is measured with. */
  accuracy: Record<string, number>;
}

function featureStream(requests: number): Stream {
  const rng = seededRng(SEED);
  const features = Array.from({ length: requests }, () => randomFeatures(rng));
  const right = features.map((f) => {
    const truth = groundTruth(f);
    return Object.fromEntries(ARMS.map((arm) => [arm, predict(MODEL_OF[arm], f).label === truth ? 1 : 0]));
  });
  const accuracy = Object.fromEntries(ARMS.map((arm) => [arm, right.reduce((n, r) => n + r[arm], 0) / requests]));
  return { features, right, accuracy };
}

interface Trace {
  chosen: string[];
  regret: number[];
  /** Share of the best arm over the last fifth of the requests. */
  finalBestShare: number;
}

function trace(chosen: string[], stream: Stream): Trace {
  const best = ARMS.reduce((a, b) => (stream.accuracy[b] > stream.accuracy[a] ? b : a));
  const tail = chosen.slice(-Math.max(1, Math.floor(chosen.length / CHECKPOINTS)));
  return { chosen, regret: cumulativeRegret(chosen, stream.accuracy), finalBestShare: tail.filter((arm) => arm === best).length / tail.length };
}

/** The in-memory bandit on the stream, instant unless given a real loop's schedule (which rewards each request's weights had counted). */
function reference(stream: Stream, known?: BanditSimulationOptions['known'], repeats = REFERENCE_REPEATS): Trace[] {
  return Array.from({ length: repeats }, (_, i) =>
    trace(
      simulateBandit({
        algorithm: 'thompson',
        arms: ARMS,
        requests: stream.features.length,
        reward: (t, arm) => stream.right[t][arm],
        rng: seededRng(SEED * 1000 + i),
        rewardKind: 'binary',
        minShare: MIN_SHARE,
        known,
      }),
      stream,
    ),
  );
}

/** Rewards the updater has applied to `deployment`, read from the router's report. */
async function applied(router: Service, deployment: string): Promise<number> {
  const { report } = await json('GET', `http://127.0.0.1:${router.port}/v1/deployments/${deployment}`);
  return ARMS.reduce((n, arm) => n + (report?.[arm]?.served?.reward?.count ?? 0), 0);
}

async function putBandit(router: Service, deployment: string, modelUrl: string, timeoutMs: number): Promise<void> {
  await json('PUT', `http://127.0.0.1:${router.port}/v1/deployments/${deployment}`, {
    variants: ARMS.map((name) => ({ name, url: modelUrl, model: MODEL_OF[name], protocol: 'v2', timeoutMs })),
    strategy: { type: 'bandit', algorithm: 'thompson', minShare: MIN_SHARE },
    reward: { type: 'match' },
  });
}

interface RealRun {
  chosen: string[];
  /** When each request was sent, in ms of performance.now(). */
  sentAt: number[];
  errors: number;
  /** Requests answered but not yet in the statistics, sampled every 250 ms while traffic ran, with the second of the run. */
  lag: Array<{ at: number; requests: number }>;
  /** From the last request until its reward was in the statistics. */
  drainMs: number;
  seconds: number;
}

/**
 * One pass of the stream through the real loop at `opts.regretRate` req/s, each answer
 * followed at once by its true label as feedback. Requests go out on schedule whatever
 * the answers do, so the loop's delay shows up as stale weights, as it would in service.
 */
async function realRun(router: Service, deployment: string, stream: Stream, opts: Options): Promise<RealRun> {
  const base = `http://127.0.0.1:${router.port}`;
  const requests = stream.features.length;
  const chosen = new Array<string>(requests);
  const sentAt = new Array<number>(requests);
  let errors = 0;
  let answered = 0;
  const inflight: Promise<void>[] = [];
  const lag: RealRun['lag'] = [];
  let sending = true;
  const t0 = performance.now();
  const sampler = (async () => {
    while (sending) {
      await sleep(250);
      const before = answered;
      lag.push({ at: (performance.now() - t0) / 1000, requests: before - (await applied(router, deployment)) });
    }
  })();
  for (let t = 0; t < requests; t++) {
    const due = t0 + (t / opts.regretRate) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const requestId = `${deployment}-${t}`;
    const features = stream.features[t];
    sentAt[t] = performance.now();
    inflight.push(
      (async () => {
        try {
          const answer = await json('POST', `${base}/v1/deployments/${deployment}/predict`, { requestId, inputs: toInferInputs(features) });
          chosen[t] = answer.variant;
          answered++;
          await json('POST', `${base}/v1/feedback`, { requestId, label: groundTruth(features) });
        } catch {
          errors++;
        }
      })(),
    );
  }
  await Promise.all(inflight);
  const seconds = (performance.now() - t0) / 1000;
  sending = false;
  await sampler;
  const drainStart = performance.now();
  const deadline = drainStart + 60_000;
  while ((await applied(router, deployment)) < answered && performance.now() < deadline) await sleep(100);
  return { chosen, sentAt, errors, lag, drainMs: performance.now() - drainStart, seconds };
}

let traceReads = 0;

/** Every message of `topic` from its start to its end at the time of the call, as parsed JSON. */
async function readTopic(topic: string): Promise<any[]> {
  const { Kafka, logLevel } = await import('kafkajs');
  const kafka = new Kafka({ brokers: brokers(), clientId: 'bench-regret-trace', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const remaining = new Map(ends.filter((p) => BigInt(p.high) > BigInt(p.low)).map((p) => [p.partition, BigInt(p.high) - 1n]));
  const values: any[] = [];
  if (!remaining.size) return values;
  // A group per read, committing nothing: a group reused by the next run would start at its
  // committed offsets, and a partition with nothing new since would never reach its end.
  const consumer = kafka.consumer({ groupId: `${RUN_ID}-regret-trace-${topic}-${++traceReads}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((done, fail) => {
    consumer
      .run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          if (message.value) values.push(JSON.parse(message.value.toString()));
          if (remaining.get(partition) !== undefined && BigInt(message.offset) >= remaining.get(partition)!) remaining.delete(partition);
          if (!remaining.size) done();
        },
      })
      .catch(fail);
  });
  await consumer.disconnect();
  return values;
}

/** What the router served from, request by request: read back from the prediction events and the updater's weight snapshots. */
interface PolicyTrace {
  /** Weight snapshots the updater stored for the deployment during the run. */
  snapshots: number;
  /** Median ms between consecutive snapshots. */
  snapshotGapMs: number;
  /** Per request: rewards in the statistics behind the weights it was drawn from (0 before the first snapshot). */
  known: number[];
  /** Per request: answered requests whose rewards were not in those statistics. */
  staleness: number[];
  /** Per snapshot the router used: ms from its computation until the first request drawn from it. */
  pickupMs: number[];
  /** Per request: the weight of each arm it was drawn from (uniform before the first snapshot). */
  weights: Array<Record<string, number>>;
}

async function policyTrace(deployment: string, sentAt: number[]): Promise<PolicyTrace> {
  const topics = topicNames(TOPIC_PREFIX);
  const [events, predictions] = await Promise.all([readTopic(topics.deploymentEvents), readTopic(topics.predictions)]);
  const snapshots = new Map<number, { rewards: number; at: number; weights: Record<string, number> }>();
  for (const e of events) {
    if (e.deployment !== deployment || e.action !== 'weights') continue;
    const stats = e.detail.stats as Record<string, { count: number }>;
    snapshots.set(e.detail.weightsVersion, {
      rewards: Object.values(stats).reduce((n, s) => n + s.count, 0),
      // On sentAt's clock (performance.now()): the updater runs on the same machine.
      at: Date.parse(e.detail.computedAt) - performance.timeOrigin,
      weights: e.detail.weights,
    });
  }
  const versionOf = new Map<number, number | undefined>();
  for (const p of predictions) {
    if (p.deployment !== deployment || p.role !== 'served') continue;
    versionOf.set(Number(String(p.requestId).slice(deployment.length + 1)), p.weightsVersion);
  }
  const uniform = Object.fromEntries(ARMS.map((arm) => [arm, 1 / ARMS.length]));
  const known = sentAt.map((_, t) => snapshots.get(versionOf.get(t) ?? 0)?.rewards ?? 0);
  const staleness = known.map((n, t) => t - n);
  const weights = sentAt.map((_, t) => snapshots.get(versionOf.get(t) ?? 0)?.weights ?? uniform);
  const firstUse = new Map<number, number>();
  sentAt.forEach((at, t) => {
    const v = versionOf.get(t);
    if (v !== undefined && !firstUse.has(v)) firstUse.set(v, at);
  });
  const times = [...snapshots.values()].map((s) => s.at).sort((a, b) => a - b);
  return {
    snapshots: snapshots.size,
    snapshotGapMs: median(times.slice(1).map((at, i) => at - times[i])),
    known,
    staleness,
    pickupMs: [...firstUse].map(([v, at]) => at - snapshots.get(v)!.at),
    weights,
  };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))] ?? NaN;
const median = (xs: number[]) => quantile(xs, 0.5);
/** Share of `arm` among the choices of each fifth of the run. */
const fifths = (chosen: string[], arm: string) =>
  Array.from({ length: CHECKPOINTS }, (_, i) => {
    const part = chosen.slice((i * chosen.length) / CHECKPOINTS, ((i + 1) * chosen.length) / CHECKPOINTS);
    return part.filter((c) => c === arm).length / part.length;
  });
const worst = (r: RealRun) => r.lag.reduce((a, b) => (b.requests > a.requests ? b : a), { at: 0, requests: 0 });
const pct = (x: number) => `${(100 * x).toFixed(0)} %`;

export async function runRegretBench(opts: Options, modelUrl: string): Promise<PartResult> {
  const T = opts.requests;
  const stream = featureStream(T);
  const at = Array.from({ length: CHECKPOINTS }, (_, i) => Math.round(((i + 1) * T) / CHECKPOINTS));
  const best = ARMS.reduce((a, b) => (stream.accuracy[b] > stream.accuracy[a] ? b : a));
  log(`regret: accuracy over the ${T}-request stream (seed ${SEED}) ${ARMS.map((a) => `${a} ${stream.accuracy[a].toFixed(3)}`).join(', ')}`);

  const refStarted = performance.now();
  const refs = reference(stream);
  log(
    `regret: reference, ${REFERENCE_REPEATS} in-memory Thompson runs in ${((performance.now() - refStarted) / 1000).toFixed(1)} s; final regret mean ${fmt(mean(refs.map((r) => r.regret[T - 1])), 1)}; chosen share of the best arm per fifth ${fifths(
      refs[0].chosen,
      best,
    )
      .map((_, i) => pct(mean(refs.map((r) => fifths(r.chosen, best)[i]))))
      .join(', ')}`,
  );

  const env = { TOPIC_PREFIX, REDIS_PREFIX };
  const router = await startService('router-regret', 'dist/apps/router/src/main.js', {
    ...env,
    PUBLISH_MODE: 'durable',
    KAFKA_INGRESS: 'false',
    REFRESH_INTERVAL_MS: String(REFRESH_INTERVAL_MS),
    INSTANCE_ID: `${RUN_ID}-regret-router`,
  });
  const joiner = await startService('feedback-joiner-regret', 'dist/apps/feedback-joiner/src/main.js', {
    ...env,
    JOIN_GROUP: `${RUN_ID}-regret-joiner`,
    INSTANCE_ID: `${RUN_ID}-regret-joiner`,
  });
  const updater = await startService('bandit-updater-regret', 'dist/apps/bandit-updater/src/main.js', {
    ...env,
    UPDATE_GROUP: `${RUN_ID}-regret-updater`,
    INSTANCE_ID: `${RUN_ID}-regret-updater`,
    SNAPSHOT_INTERVAL_MS: String(SNAPSHOT_INTERVAL_MS),
  });
  const reals: Array<RealRun & Trace & { policy: PolicyTrace }> = [];
  try {
    // Consumer groups join and topics get their first batches here, not in a measured run.
    const warm = 'regret-warm';
    await putBandit(router, warm, modelUrl, opts.regretTimeoutMs);
    await realRun(router, warm, featureStream(50), { ...opts, regretRate: 25 });
    for (let run = 1; run <= opts.regretRuns; run++) {
      const deployment = `regret-${run}`;
      await putBandit(router, deployment, modelUrl, opts.regretTimeoutMs);
      log(`regret: real loop run ${run} of ${opts.regretRuns}, ${T} requests at ${opts.regretRate} req/s`);
      const real = await realRun(router, deployment, stream, opts);
      if (real.chosen.some((arm) => arm === undefined)) throw new Error(`regret: ${real.errors} of ${T} requests failed in run ${run}`);
      reals.push({ ...real, ...trace(real.chosen, stream), policy: await policyTrace(deployment, real.sentAt) });
      const r = reals[reals.length - 1];
      log(
        `regret: run ${run}: regret ${fmt(r.regret[T - 1], 1)}, best-arm share at the end ${pct(r.finalBestShare)}, median lag ${median(r.lag.map((l) => l.requests))} requests (max ${worst(r).requests} at ${worst(r).at.toFixed(1)} s), drained ${(r.drainMs / 1000).toFixed(1)} s after the last request`,
      );
      const p = r.policy;
      log(
        `regret: run ${run}: ${p.snapshots} weight snapshots (median gap ${fmt(p.snapshotGapMs, 0)} ms), router picked each up after median ${fmt(median(p.pickupMs), 0)} ms (max ${fmt(Math.max(...p.pickupMs), 0)}); requests drawn from weights missing median ${median(p.staleness)} rewards (p90 ${quantile(p.staleness, 0.9)}, max ${Math.max(...p.staleness)})`,
      );
      log(
        `regret: run ${run}: weights served at ${at.map((n) => `${n}: ${ARMS.map((arm) => fmt(p.weights[n - 1][arm], 2)).join('/')}`).join(', ')}; chosen share of the best arm per fifth ${fifths(r.chosen, best).map(pct).join(', ')}`,
      );
    }
  } finally {
    for (const service of [router, joiner, updater]) await stopService(service);
  }

  const realFinals = reals.map((r) => r.regret[T - 1]);
  const refFinal = mean(refs.map((r) => r.regret[T - 1]));
  // The same in-memory bandit given each run's own schedule, request by request: drawn
  // from weights that had counted exactly as many rewards as the run's did (uniform until
  // its first snapshot), recomputed when the run's were. What is left of the gap between
  // a run and these is not explained by the loop's delays.
  const delayedStarted = performance.now();
  const replays = reals.map((r) => reference(stream, (t) => r.policy.known[t], DELAYED_REPEATS));
  const delayed = replays.flat();
  const delayedFinal = mean(delayed.map((r) => r.regret[T - 1]));
  /** Share of a run's replays that lost less than the run: where the run falls among them. */
  const rank = (r: Trace, own: Trace[], n: number) => own.filter((d) => d.regret[n - 1] < r.regret[n - 1]).length / own.length;
  log(
    `regret: reference with each run's own delays, ${DELAYED_REPEATS} runs per real run in ${((performance.now() - delayedStarted) / 1000).toFixed(1)} s; final regret mean ${fmt(delayedFinal, 1)} (${fmt(Math.min(...delayed.map((r) => r.regret[T - 1])), 1)}–${fmt(Math.max(...delayed.map((r) => r.regret[T - 1])), 1)}); the real runs rank at ${reals.map((r, i) => pct(rank(r, replays[i], T))).join(', ')} of their own`,
  );
  const rows: Row[] = reals.map((r, i) => ({
    id: `regret-${i + 1}`,
    label: `bandit thompson through the real loop, final regret ${fmt(r.regret[T - 1], 1)}`,
    target: 'router+joiner+updater',
    mode: 'rate',
    offered: opts.regretRate,
    rps: T / r.seconds,
    errors: r.errors,
    peakRssIsRunPeak: true,
    load1: load1(),
  }));

  const section = [
    `### Bandit regret: real loop vs in-memory Thompson with instant feedback`,
    '',
    `Arms v1/v2/v3 = churn-v1/v2/v3; accuracy over this ${T}-request feature stream (seed ${SEED}): ${ARMS.map((a) => `${a} ${stream.accuracy[a].toFixed(3)}`).join(', ')} — the expected reward regret is measured with (regret per request = best arm's accuracy − chosen arm's). ` +
      `Thompson, minShare ${MIN_SHARE}, binary reward (match). Real loop: ${reals.length} run(s) at ${opts.regretRate} req/s, each answer followed at once by its true label, router REFRESH_INTERVAL_MS=${REFRESH_INTERVAL_MS}, updater SNAPSHOT_INTERVAL_MS=${SNAPSHOT_INTERVAL_MS}. ` +
      `Reference: ${REFERENCE_REPEATS} runs on the same stream (different bandit seeds), weights recomputed after every reward. ` +
      `Delayed reference: the same bandit given each real run's own delays, ${DELAYED_REPEATS} runs per real run: each request drawn from weights that had counted as many rewards as the run's weights for that request had (uniform until the run's first snapshot), recomputed when the run's were.`,
    '',
    `| after request | ${reals.map((_, i) => `real run ${i + 1}`).join(' | ')} | real median | reference mean (min–max) | real median / reference | delayed reference mean (min–max) |`,
    `|---:|${reals.map(() => '---:|').join('')}---:|---:|---:|---:|`,
    ...at.map((n) => {
      const realMedian = median(reals.map((r) => r.regret[n - 1]));
      const range = (traces: Trace[]) => {
        const xs = traces.map((r) => r.regret[n - 1]);
        return `${fmt(mean(xs), 1)} (${fmt(Math.min(...xs), 1)}–${fmt(Math.max(...xs), 1)})`;
      };
      return `| ${n} | ${reals.map((r) => fmt(r.regret[n - 1], 1)).join(' | ')} | ${fmt(realMedian, 1)} | ${range(refs)} | ${fmt(realMedian / mean(refs.map((r) => r.regret[n - 1])))} | ${range(delayed)} |`;
    }),
    `| best-arm share, last ${T / CHECKPOINTS} requests | ${reals.map((r) => pct(r.finalBestShare)).join(' | ')} | ${pct(median(reals.map((r) => r.finalBestShare)))} | ${pct(mean(refs.map((r) => r.finalBestShare)))} | | ${pct(mean(delayed.map((r) => r.finalBestShare)))} |`,
    '',
    `Each real run among the delayed reference runs given its own delays (the share of them that lost less): ${reals.map((r, i) => `run ${i + 1}: ${pct(rank(r, replays[i], at[0]))} after ${at[0]} requests, ${pct(rank(r, replays[i], T))} after ${T}`).join('; ')}.`,
    '',
    `Weights the router served: ${reals.map((r, i) => `run ${i + 1}: ${r.policy.snapshots} snapshots (median gap ${fmt(r.policy.snapshotGapMs, 0)} ms), in use ${fmt(median(r.policy.pickupMs), 0)} ms after (median), each request drawn from weights missing median ${median(r.policy.staleness)} rewards (p90 ${quantile(r.policy.staleness, 0.9)})`).join('; ')}.`,
    '',
    `Feedback delay through the loop: ${reals.map((r, i) => `run ${i + 1}: median ${median(r.lag.map((l) => l.requests))} answered requests not yet in the statistics (max ${worst(r).requests}, ${worst(r).at.toFixed(1)} s into the run), last reward applied ${(r.drainMs / 1000).toFixed(1)} s after the last answer`).join('; ')}.`,
  ].join('\n');

  return {
    rows,
    ratios: [
      ratio('bandit regret: real loop median / in-memory reference (instant feedback)', median(realFinals) / refFinal, '≤ 1.20', (v) => v <= 1.2),
      ratio('bandit regret: worst real loop / in-memory reference', Math.max(...realFinals) / refFinal, '≤ 2.00', (v) => v <= 2),
      ratio("bandit regret: real loop median / reference with the loop's delays", median(realFinals) / delayedFinal, '(info)'),
      ratio('bandit regret: real loop, final median (sum of accuracy gaps)', median(realFinals), '(info)'),
      ratio('bandit regret: in-memory reference, final', refFinal, '(info)'),
    ],
    sections: [section],
  };
}
