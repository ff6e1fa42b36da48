/**
 * Event pipeline: feedback-joiner and bandit-updater together (predictions + feedback in,
 * joined events out, reward statistics applied in Redis) against a bare kafkajs
 * consume-produce loop over the same topics and message sizes.
 *
 * Each run gets the very same backlog (same bytes, keys, partitions) on topics of its own:
 * warm-up pairs, committed, then the measured pairs in one Kafka transaction that stays
 * open while the processes start, join their groups and work through the warm-up (a
 * read-committed consumer cannot read past an open transaction). Committing it makes the
 * whole measured backlog readable at once: that instant is the start of the clock.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Admin, Kafka, logLevel, Message, Partitioners } from 'kafkajs';
import { FeedbackEvent, PredictionEvent, topicNames, validateDeploymentSpec } from '@switchyard/contracts';
import { groundTruth, predict, randomFeatures, seededRng, toInferOutputs } from '@switchyard/demo-models';
import { BaseEnv, loadEnv } from '@switchyard/runtime';
import { openSpecLog } from '@switchyard/spec-log';
import { joinPair } from '@switchyard/strategies';
import {
  OUT,
  Options,
  PartResult,
  REDIS_PREFIX,
  ROOT,
  RUN_ID,
  Row,
  Service,
  TOPIC_PREFIX,
  brokerPid,
  brokers,
  combineRounds,
  cpuPer,
  cpuSeconds,
  createTopics,
  div,
  fmt,
  load1,
  log,
  peakRssMb,
  ratio,
  resetPeakRss,
  sleep,
  startProcess,
  startService,
  stopService,
  treeCpuSeconds,
} from './harness';
import { feedbackEvent, predictionEvent } from '../test/support/events';

/**
 * `pipeline`: the joiner and updater; `pipeline-2j`: the same with two joiners in one group
 * (scale-out); `kstreams`: the Kafka Streams peer; any of them also runs the bare loop (the baseline).
 */
export const PIPELINE_RUNS = ['pipeline', 'pipeline-2j', 'kstreams'];

/** The Kafka Streams peer's runnable jar, built by scripts/bench.sh (`mvn -q package`) when missing. */
const KSTREAMS_DIR = join(ROOT, 'bench', 'peers', 'kafka-streams-join');
const KSTREAMS_JAR = join(KSTREAMS_DIR, 'target', 'kafka-streams-join.jar');

const PARTITIONS = 6;
const DEPLOYMENT = 'bench-pipeline';
const VARIANTS = [
  { name: 'v1', model: 'churn-v1' },
  { name: 'v2', model: 'churn-v2' },
];
/** Messages per producer request when writing the backlog. */
const CHUNK = 2000;

interface Backlog {
  warm: { predictions: Message[]; feedback: Message[] };
  measured: { predictions: Message[]; feedback: Message[] };
  /** Mean size (bytes) of the joined event of a pair, what the bare loop produces per pair. */
  joinedBytes: number;
  predictionBytes: number;
  feedbackBytes: number;
}

/**
 * `count` prediction/feedback pairs as the router would publish them for a bandit
 * deployment of two demo models: OIP outputs of the chosen variant, the ground-truth label.
 */
function pairs(tag: string, count: number, seed: number) {
  const rng = seededRng(seed);
  const predictions: PredictionEvent[] = [];
  const feedback: FeedbackEvent[] = [];
  for (let i = 0; i < count; i++) {
    const requestId = `${tag}-${i}`;
    const features = randomFeatures(rng);
    const variant = VARIANTS[rng() < 0.5 ? 0 : 1];
    predictions.push(
      predictionEvent({
        requestId,
        deployment: DEPLOYMENT,
        variant: variant.name,
        strategy: 'bandit',
        probability: Math.round((0.3 + rng() * 0.4) * 1e6) / 1e6,
        outputs: toInferOutputs([predict(variant.model, features)]),
        latencyMs: Math.round((1 + rng() * 4) * 1000) / 1000,
      }),
    );
    feedback.push(feedbackEvent({ requestId, label: groundTruth(features) }));
  }
  return { predictions, feedback };
}

const asMessages = (events: { requestId: string }[]): Message[] => events.map((e) => ({ key: e.requestId, value: Buffer.from(JSON.stringify(e)) }));
const meanBytes = (messages: Message[]) => messages.reduce((a, m) => a + (m.value as Buffer).length, 0) / Math.max(1, messages.length);

function backlog(events: number, warmup: number): Backlog {
  const warm = pairs(`w${RUN_ID}`, warmup, 7);
  const measured = pairs(`m${RUN_ID}`, events, 42);
  const sample = measured.predictions.slice(0, 1000);
  let joinedTotal = 0;
  sample.forEach((prediction, i) => {
    const f = measured.feedback[i];
    const result = joinPair(prediction, { label: f.label, feedbackAt: f.occurredAt! }, { type: 'match' });
    if (!result.ok) throw new Error(`bench pair cannot be joined: ${result.reason}`);
    joinedTotal += Buffer.byteLength(JSON.stringify(result.event));
  });
  const out: Backlog = {
    warm: { predictions: asMessages(warm.predictions), feedback: asMessages(warm.feedback) },
    measured: { predictions: asMessages(measured.predictions), feedback: asMessages(measured.feedback) },
    joinedBytes: Math.round(joinedTotal / sample.length),
    predictionBytes: 0,
    feedbackBytes: 0,
  };
  out.predictionBytes = Math.round(meanBytes(out.measured.predictions));
  out.feedbackBytes = Math.round(meanBytes(out.measured.feedback));
  return out;
}

/**
 * Writes the warm-up pairs (committed) and then the measured pairs inside one open
 * transaction; `commit` makes the measured backlog readable at once.
 */
async function writeBacklog(kafka: Kafka, id: string, topics: { predictions: string; feedback: string }, data: Backlog) {
  const send = async (sendBatch: (b: { topicMessages: { topic: string; messages: Message[] }[] }) => Promise<unknown>, part: Backlog['warm']) => {
    for (let i = 0; i < part.predictions.length; i += CHUNK) {
      await sendBatch({
        topicMessages: [
          { topic: topics.predictions, messages: part.predictions.slice(i, i + CHUNK) },
          { topic: topics.feedback, messages: part.feedback.slice(i, i + CHUNK) },
        ],
      });
    }
  };
  // Idempotent (acks all): a retried request never writes the backlog twice.
  const plain = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 5 });
  await plain.connect();
  await send((b) => plain.sendBatch(b), data.warm);
  await plain.disconnect();
  const producer = kafka.producer({
    transactionalId: `${RUN_ID}-backlog-${id}`,
    idempotent: true,
    maxInFlightRequests: 1,
    transactionTimeout: 300_000,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const transaction = await producer.transaction();
  const t0 = performance.now();
  await send((b) => transaction.sendBatch(b), data.measured);
  log(`${id}: backlog of ${data.measured.predictions.length} pairs written in ${((performance.now() - t0) / 1000).toFixed(1)} s, transaction open`);
  return {
    commit: () => transaction.commit(),
    close: async () => {
      if (transaction.isActive()) await transaction.abort().catch(() => undefined);
      await producer.disconnect();
    },
  };
}

/** Polls `count` until it reaches `need` or the time is up; answers the last count and when it got there. */
async function until(count: () => Promise<number>, need: number, timeoutMs: number, pollMs = 20): Promise<{ count: number; at: number; ok: boolean }> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const n = await count();
    const at = performance.now();
    if (n >= need) return { count: n, at, ok: true };
    if (at > deadline) return { count: n, at, ok: false };
    await sleep(pollMs);
  }
}

const cpuShare = (before: number | undefined, after: number | undefined, seconds: number) =>
  before === undefined || after === undefined ? '?' : `${Math.round((100 * (after - before)) / seconds)}%`;

/**
 * CPU of the processes under test and of the broker from now on: `stop(events, seconds)`
 * answers µs per input event (all processes together, then the broker's) and each
 * process's share of a core.
 */
function cpuMeter(pids: number[]) {
  const broker = brokerPid();
  const before = pids.map((pid) => treeCpuSeconds(pid));
  const brokerBefore = broker === undefined ? undefined : cpuSeconds(broker);
  return (events: number, seconds: number) => {
    const after = pids.map((pid) => treeCpuSeconds(pid));
    const total = (values: (number | undefined)[]) => (values.some((v) => v === undefined) ? undefined : values.reduce<number>((a, v) => a + v!, 0));
    return {
      cpuUs: cpuPer(total(before), total(after), events),
      brokerCpuUs: broker === undefined ? undefined : cpuPer(brokerBefore, cpuSeconds(broker), events),
      shares: pids.map((_, i) => cpuShare(before[i], after[i], seconds)),
    };
  };
}

async function topicCount(admin: Admin, topic: string): Promise<number> {
  return (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);
}

/** Sum of every series of a Prometheus counter in a /metrics text. */
function metric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function metricsOf(service: Service): Promise<string> {
  try {
    return await (await fetch(`http://127.0.0.1:${service.port}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  } catch {
    return '';
  }
}

interface Measured {
  row: Row;
  notes: string[];
}

/**
 * Times a single-process run that writes one output per pair (the bare loop, the Kafka
 * Streams peer): commits the backlog, then waits until `count` reaches warm-up + measured pairs.
 */
async function timeOutputs(
  run: { id: string; label: string; target: string; pid: number; round: number; what: string },
  count: () => Promise<number>,
  backlogTx: { commit: () => Promise<unknown> },
  warm: number,
  opts: Options,
): Promise<Measured> {
  const { pid } = run;
  const reset = resetPeakRss(pid);
  const loadBefore = load1();
  log(`${run.id}-r${run.round}: ${run.label} — measuring ${opts.events} pairs (${2 * opts.events} events)`);
  const meter = cpuMeter([pid]);
  const t0 = performance.now();
  await backlogTx.commit();
  const done = await until(count, warm + opts.events, timeoutOf(opts));
  const elapsed = (done.at - t0) / 1000;
  const cpu = meter(2 * opts.events, elapsed);
  const produced = done.count - warm;
  const row: Row = {
    id: run.id,
    label: run.label,
    target: run.target,
    mode: 'pipeline',
    offered: 2 * opts.events,
    rps: (2 * Math.min(produced, opts.events)) / elapsed,
    errors: Math.abs(opts.events - produced),
    peakRssMb: peakRssMb(pid),
    peakRssIsRunPeak: reset,
    cpuUs: cpu.cpuUs,
    brokerCpuUs: cpu.brokerCpuUs,
    load1: Math.max(loadBefore, load1()),
  };
  const note = `round ${run.round}, ${run.what}: ${produced} outputs in ${elapsed.toFixed(2)} s, CPU ${cpu.shares[0]} of one core`;
  log(`${run.id}-r${run.round}: ${row.rps.toFixed(0)} events/s; ${note}; peak RSS ${row.peakRssMb ?? '?'} MB`);
  return { row, notes: [note] };
}

async function bareRun(kafka: Kafka, admin: Admin, round: number, data: Backlog, opts: Options): Promise<Measured> {
  const id = `pipeline-bare-r${round}`;
  const prefix = `${TOPIC_PREFIX}bare${round}.`;
  const topics = { predictions: `${prefix}predictions`, feedback: `${prefix}feedback` };
  const output = `${prefix}bare-joined`;
  const warm = data.warm.predictions.length;
  await createTopics([topics.predictions, topics.feedback, output], PARTITIONS);
  const backlogTx = await writeBacklog(kafka, id, topics, data);
  let loop: Service | undefined;
  try {
    loop = await startService(`bare-pipeline-loop-r${round}`, 'dist/bench/bare-pipeline-loop.js', {
      INPUT_TOPICS: `${topics.predictions},${topics.feedback}`,
      OUTPUT_TOPIC: output,
      GROUP: `${RUN_ID}-bare-pipeline-${round}`,
      JOINED_BYTES: String(data.joinedBytes),
    });
    const warmed = await until(() => topicCount(admin, output), warm, 90_000, 100);
    if (!warmed.ok) throw new Error(`${id}: ${warmed.count} of ${warm} warm-up outputs after 90 s`);
    await sleep(500);
    const run = { id: 'pipeline-bare', label: 'bare kafkajs consume-produce loop (baseline)', target: 'bare-pipeline-loop', what: 'bare loop' };
    return await timeOutputs({ ...run, pid: loop.child.pid!, round }, () => topicCount(admin, output), backlogTx, warm, opts);
  } finally {
    await backlogTx.close();
    if (loop) await stopService(loop);
  }
}

/** Polls the group until it is stable with `members` members, each holding partitions. */
async function groupSettled(admin: Admin, groupId: string, members: number, timeoutMs: number): Promise<boolean> {
  const settled = await until(
    async () => {
      const [group] = (await admin.describeGroups([groupId])).groups;
      return group.state === 'Stable' && group.members.length === members && group.members.every((m) => m.memberAssignment.length > 0) ? 1 : 0;
    },
    1,
    timeoutMs,
    200,
  );
  return settled.ok;
}

async function pipelineRun(kafka: Kafka, admin: Admin, redis: Redis, round: number, data: Backlog, opts: Options, joiners: number): Promise<Measured> {
  const tag = joiners === 1 ? 'pipe' : `pipe${joiners}j`;
  const id = `${joiners === 1 ? 'pipeline' : `pipeline-${joiners}j`}-r${round}`;
  const topicPrefix = `${TOPIC_PREFIX}${tag}${round}.`;
  const redisPrefix = `${REDIS_PREFIX}${tag}${round}:`;
  const topics = topicNames(topicPrefix);
  const warm = data.warm.predictions.length;
  const need = warm + opts.events;
  await createTopics(Object.values(topics), PARTITIONS);
  const spec = validateDeploymentSpec({
    variants: VARIANTS.map((v) => ({ name: v.name, url: 'http://127.0.0.1:9', model: v.model })),
    strategy: { type: 'bandit', algorithm: 'thompson' },
  });
  if (!spec.ok) throw new Error(spec.problems.join('; '));
  const specs = await openSpecLog(
    loadEnv(BaseEnv, { ...process.env, LOG_LEVEL: 'warn', TOPIC_PREFIX: topicPrefix, REDIS_PREFIX: redisPrefix, TOPIC_PARTITIONS: String(PARTITIONS) }),
  );
  const { version } = await specs.put(DEPLOYMENT, spec.value).finally(() => specs.close());
  if (version !== 1) throw new Error(`${id}: deployment spec stored as version ${version}, expected 1`);
  const statsKey = `${redisPrefix}{${DEPLOYMENT}}:stats`;
  const applied = async () => (await redis.hmget(statsKey, ...VARIANTS.map((v) => `${v.name}:count`))).reduce((a, c) => a + Number(c ?? 0), 0);

  const backlogTx = await writeBacklog(kafka, id, topics, data);
  const common = { TOPIC_PREFIX: topicPrefix, REDIS_PREFIX: redisPrefix, TOPIC_PARTITIONS: String(PARTITIONS) };
  let updater: Service | undefined;
  const joinerServices: Service[] = [];
  const joinGroup = `${RUN_ID}-${tag}-joiner-${round}`;
  try {
    // The updater first, so it has joined its group before the first joined event exists.
    updater = await startService(`bandit-updater-r${round}`, 'dist/apps/bandit-updater/src/main.js', {
      ...common,
      UPDATE_GROUP: `${RUN_ID}-updater-${round}`,
      INSTANCE_ID: `${RUN_ID}-updater-${round}`,
    });
    for (let j = 1; j <= joiners; j++) {
      const suffix = joiners === 1 ? '' : `-${j}`;
      joinerServices.push(
        await startService(`feedback-joiner${suffix}-r${round}`, 'dist/apps/feedback-joiner/src/main.js', {
          ...common,
          JOIN_GROUP: joinGroup,
          INSTANCE_ID: `${RUN_ID}-${tag}-joiner${suffix}-${round}`,
        }),
      );
    }
    const [joiner] = joinerServices;
    const warmed = await until(applied, warm, 90_000, 100);
    if (!warmed.ok) throw new Error(`${id}: ${warmed.count} of ${warm} warm-up rewards applied after 90 s; see .bench/logs/`);
    // Every joiner holds its partitions before the clock starts: no rebalance in the measured part.
    if (!(await groupSettled(admin, joinGroup, joiners, 60_000))) throw new Error(`${id}: the joiners' group did not settle with ${joiners} members`);
    await sleep(500);
    const pids = [...joinerServices.map((j) => j.child.pid!), updater.child.pid!];
    const reset = pids.every((pid) => resetPeakRss(pid));
    const loadBefore = load1();
    const what = joiners === 1 ? 'feedback-joiner + bandit-updater' : `${joiners} feedback-joiners + bandit-updater`;
    log(`${id}: ${what} — measuring ${opts.events} pairs (${2 * opts.events} events)`);
    const meter = cpuMeter(pids);
    const t0 = performance.now();
    await backlogTx.commit();
    const done = await until(applied, need, timeoutOf(opts));
    const elapsed = (done.at - t0) / 1000;
    const { cpuUs, brokerCpuUs, shares: cpu } = meter(2 * opts.events, elapsed);
    const joinerRss = peakRssMb(joiner.child.pid!);
    const updaterRss = peakRssMb(updater.child.pid!);
    const load = Math.max(loadBefore, load1());
    const [um, ...jms] = await Promise.all([metricsOf(updater), ...joinerServices.map(metricsOf)]);
    const joinerMetric = (name: string) => jms.reduce((sum, jm) => sum + metric(jm, name), 0);
    const joinedOut = joinerMetric('switchyard_joiner_joined_total') - warm;
    const rejected = joinerMetric('switchyard_joiner_rejected_total') + metric(um, 'switchyard_updater_rejected_total');
    const unjoinable = joinerMetric('switchyard_joiner_unjoinable_total');
    const stale = metric(um, 'switchyard_updater_stale_total');
    const duplicates = metric(um, 'switchyard_updater_duplicates_total');
    const appliedCount = done.count - warm;
    const missing = Math.max(0, opts.events - appliedCount);
    const row: Row = {
      id: joiners === 1 ? 'pipeline' : `pipeline-${joiners}j`,
      label: joiners === 1 ? what : `${what} (scale-out, one group)`,
      target: 'feedback-joiner',
      mode: 'pipeline',
      offered: 2 * opts.events,
      rps: (2 * Math.min(appliedCount, opts.events)) / elapsed,
      errors: rejected + unjoinable + stale + missing,
      cpuUs,
      brokerCpuUs,
      peakRssMb: joinerRss,
      peakRssIsRunPeak: reset,
      otherPeakRssMb: { 'bandit-updater': updaterRss },
      load1: load,
    };
    const shares = `${joinerServices.map((_, j) => `joiner${joiners === 1 ? '' : ` ${j + 1}`} ${cpu[j]}`).join(', ')}, updater ${cpu[joiners]}`;
    const note = `round ${round}, ${what}: ${appliedCount} rewards applied in ${elapsed.toFixed(2)} s (CPU of one core: ${shares}), ${joinedOut} joined events published, ${rejected} rejected (DLQ), ${unjoinable} unjoinable, ${stale} stale, ${duplicates} duplicates, ${missing} missing`;
    log(`${id}: ${row.rps.toFixed(0)} events/s (${elapsed.toFixed(2)} s); ${note}; peak RSS joiner ${joinerRss ?? '?'} MB, updater ${updaterRss ?? '?'} MB`);
    return { row, notes: [note] };
  } finally {
    await backlogTx.close();
    for (const joiner of joinerServices) await stopService(joiner);
    if (updater) await stopService(updater);
  }
}

/** Counts the records of `topic` a read-committed consumer sees: offsets would also count transaction markers. */
async function committedCounter(kafka: Kafka, topic: string, groupId: string) {
  let count = 0;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      count += batch.messages.length;
    },
  });
  return { count: async () => count, stop: () => consumer.disconnect() };
}

/**
 * The Kafka Streams peer (bench/peers/kafka-streams-join) on the same backlog: done when
 * one joined record per pair is committed on its output topic, as for the bare loop.
 */
async function kstreamsRun(kafka: Kafka, round: number, data: Backlog, opts: Options): Promise<Measured> {
  const id = `pipeline-kstreams-r${round}`;
  if (!existsSync(KSTREAMS_JAR)) throw new Error(`${KSTREAMS_JAR} is missing: run \`mvn -q -f ${KSTREAMS_DIR}/pom.xml package\` (npm run bench does)`);
  const prefix = `${TOPIC_PREFIX}ks${round}.`;
  const topics = { predictions: `${prefix}predictions`, feedback: `${prefix}feedback` };
  const output = `${prefix}joined`;
  const warm = data.warm.predictions.length;
  await createTopics([topics.predictions, topics.feedback, output], PARTITIONS);
  const backlogTx = await writeBacklog(kafka, id, topics, data);
  const counter = await committedCounter(kafka, output, `${RUN_ID}-ks-count-${round}`);
  const stateDir = join(OUT, 'kstreams', `${RUN_ID}-r${round}`);
  mkdirSync(stateDir, { recursive: true });
  let peer: Service | undefined;
  try {
    peer = await startProcess(`kafka-streams-join-r${round}`, () => ['java', '-Xms256m', '-Xmx1g', '-jar', KSTREAMS_JAR], {
      KAFKA_BROKERS: brokers().join(','),
      // Its internal (changelog) topics start with the application id, so the run's cleanup deletes them.
      APPLICATION_ID: `${prefix}app`,
      PREDICTIONS_TOPIC: topics.predictions,
      FEEDBACK_TOPIC: topics.feedback,
      OUTPUT_TOPIC: output,
      STATE_DIR: stateDir,
    });
    const warmed = await until(counter.count, warm, 120_000, 100);
    if (!warmed.ok) throw new Error(`${id}: ${warmed.count} of ${warm} warm-up joins after 120 s; see .bench/logs/`);
    await sleep(500);
    const run = {
      id: 'pipeline-kstreams',
      label: 'Kafka Streams stream-stream join, exactly-once v2, 1 thread (peer)',
      target: 'kafka-streams-join',
      what: 'Kafka Streams (JVM)',
    };
    return await timeOutputs({ ...run, pid: peer.child.pid!, round }, counter.count, backlogTx, warm, opts);
  } finally {
    await backlogTx.close();
    if (peer) await stopService(peer);
    await counter.stop();
  }
}

const timeoutOf = (opts: Options) => Math.max(60_000, opts.events * 2);

export async function runPipelineBench(opts: Options, only: Set<string>): Promise<PartResult> {
  const warmPairs = Math.min(2000, Math.max(200, Math.round(opts.events / 10)));
  const data = backlog(opts.events, warmPairs);
  log(
    `pipeline: ${opts.events} pairs (+${warmPairs} warm-up), prediction ${data.predictionBytes} B, feedback ${data.feedbackBytes} B, joined ${data.joinedBytes} B; ${PARTITIONS} partitions`,
  );
  const kafka = new Kafka({ brokers: brokers(), clientId: 'bench-pipeline', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const runs: Array<{ id: string; run: (round: number) => Promise<Measured> }> = [
    { id: 'bare', run: (round) => bareRun(kafka, admin, round, data, opts) },
    ...(only.has('pipeline') ? [{ id: 'pipeline', run: (round: number) => pipelineRun(kafka, admin, redis, round, data, opts, 1) }] : []),
    ...(only.has('pipeline-2j') ? [{ id: 'pipeline-2j', run: (round: number) => pipelineRun(kafka, admin, redis, round, data, opts, 2) }] : []),
    ...(only.has('kstreams') ? [{ id: 'kstreams', run: (round: number) => kstreamsRun(kafka, round, data, opts) }] : []),
  ];
  const samples = new Map<string, Row[]>();
  const notes: string[] = [];
  try {
    for (let round = 1; round <= opts.rounds; round++) {
      log(`pipeline: round ${round} of ${opts.rounds}`);
      for (const { id, run } of runs) {
        const measured = await run(round);
        samples.set(id, [...(samples.get(id) ?? []), measured.row]);
        notes.push(...measured.notes);
      }
    }
  } finally {
    await admin.disconnect();
    redis.disconnect();
  }
  const rows = runs.map(({ id }) => combineRounds(samples.get(id)!));
  const get = (id: string) => rows.find((r) => r.id === id);
  const b = get('pipeline-bare')!;
  const p = get('pipeline');
  const k = get('pipeline-kstreams');
  const p2 = get('pipeline-2j');
  const ratios = [
    ratio('event pipeline: pipeline / bare kafkajs loop, events/s', div(p?.rps, b.rps), '≥ 0.50', (v) => v >= 0.5),
    ratio('event pipeline: pipeline events/s', p?.rps, '≥ 20000', (v) => v >= 20000),
    ratio('peer: pipeline / Kafka Streams EOS join, events/s', div(p?.rps, k?.rps), '≥ 1.5', (v) => v >= 1.5),
    ratio('peer: pipeline / Kafka Streams EOS join, CPU per event (without the broker)', div(p?.cpuUs, k?.cpuUs), '(info)'),
    ratio('peer: Kafka Streams EOS join / bare kafkajs loop, events/s', div(k?.rps, b.rps), '(info)'),
    ratio('scale-out: two joiners / one, events/s', div(p2?.rps, p?.rps), '(info)'),
    ratio('scale-out: two joiners / one, CPU per event', div(p2?.cpuUs, p?.cpuUs), '(info)'),
  ];
  const section = [
    '### Event pipeline',
    '',
    `${opts.events} prediction/feedback pairs (${2 * opts.events} input events; prediction ${data.predictionBytes} B, feedback ${data.feedbackBytes} B, ` +
      `joined ${data.joinedBytes} B on average) of a bandit deployment of two demo models, on topics of ${PARTITIONS} partitions. Each run reads ` +
      `the very same backlog from topics of its own: ${warmPairs} warm-up pairs first (not measured; they also cover the group joins), then the ` +
      'measured pairs, written in one Kafka transaction that is committed once the processes are warm and idle, so the whole backlog becomes ' +
      'readable at one instant, when the clock starts. events/s = input events / time until done, polled every 20 ms. ' +
      "Pipeline done: the bandit updater has applied a reward for every measured pair (the sum of the arms' counts in Redis), which implies " +
      'each joined event was published and committed. Baseline done: one output per pair is on its output topic. ' +
      'The baseline is one kafkajs consumer over the same two input topics that remembers requestIds in memory and produces, per completed ' +
      "pair, one message of a joined event's size (acks all), committing after each batch: no parsing, validation, Redis, transactions or " +
      'second stage. The Kafka Streams peer (bench/peers/kafka-streams-join) is a stream-stream join of the same two topics, exactly-once v2, ' +
      'one stream thread, JSON parsed with Jackson and the joined event written as the prediction plus the label; done when one joined record ' +
      'per pair is committed on its output topic (counted by a read-committed consumer). No validation, statistics or second stage either. ' +
      "CPU µs/event: all processes under test (joiner + updater for the pipeline, the JVM for Kafka Streams) per input event; in brackets the broker's. " +
      "Peak RSS is over the measured part of a run; the pipeline row shows the joiner's (the first joiner's with two), the updater's in brackets. " +
      'Scale-out (pipeline-2j): the same with two joiner processes in one consumer group (the 6 partitions of each input split between them), ' +
      'clock started once the group is stable with both; its CPU µs/event sums both joiners and the updater. ' +
      `Errors: DLQ records, unjoinable pairs, stale rewards and missing joins. ${opts.rounds} round(s), each baseline, pipeline and peer with fresh processes.`,
    '',
    ...notes.map((n) => `- ${n}`),
  ].join('\n');
  log(`pipeline: bare ${fmt(b.rps, 0)} events/s, pipeline ${fmt(p?.rps, 0)}, two joiners ${fmt(p2?.rps, 0)}, Kafka Streams ${fmt(k?.rps, 0)}`);
  return { rows, ratios, sections: [section] };
}
