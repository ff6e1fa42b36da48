/**
 * Time from Redis lost to every consumer consuming again, by size of history, with and
 * without checkpoints. Per size H: H predictions (for the joiner's report counters) and
 * H joined events (for the updater's statistics), stamped two hours ago (older than the
 * default join window, as history is), taken in by a feedback joiner and a bandit updater
 * (built, processes of their own) against a private redis-server; the joiner takes them
 * in with a 1 s window so that what Redis holds at the loss is what a long-running joiner
 * holds (reports, not the pending state of an hour of traffic), and is then restarted with
 * the default window (JOIN_WINDOW_SECONDS 3600) for the measurements. Each measurement:
 * the redis-server is restarted empty, one prediction and one joined event are written to
 * every partition, and the clock runs until the joiner's report and the updater's
 * statistics hold the history plus those events again (the joiner's markers set and both
 * consumers through their first batch after the loss). First with the checkpoints the
 * services took (CHECKPOINT_INTERVAL_MS 2000), then with the checkpoints deleted (tombstones)
 * and the services restarted without checkpointing: a read of the whole history. Beside
 * each figure, the machine's 1-minute load average as the measurement ended: the bench
 * shares its cores with whatever else runs, and the figures mean little without it.
 *
 *   npm run build && node dist/bench/recovery.js [--sizes 10000,100000,1000000]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import { Kafka, logLevel, Producer } from 'kafkajs';
import { JoinedEvent, PredictionEvent, topicNames } from '@switchyard/contracts';
import { parseStats } from '@switchyard/store';
import { cleanupData, brokers, log, Service, startService, stopService, TOPIC_PREFIX } from './harness';
import { joinedEvent, predictionEvent } from '../test/support/events';
import { startPrivateRedis } from '../test/support/private-redis';

const PARTITIONS = 6;
const DEPLOYMENTS = ['alpha', 'beta', 'gamma'];
const HISTORY_AGE_MS = 2 * 3600 * 1000;
const CHUNK = 2000;

const prediction = (n: number): PredictionEvent =>
  predictionEvent({ requestId: `p-${n}`, deployment: DEPLOYMENTS[n % DEPLOYMENTS.length], variant: `v${n % 3}`, outputs: [n % 2], latencyMs: n % 50 });

const joined = (n: number): JoinedEvent =>
  joinedEvent({ requestId: `j-${n}`, deployment: DEPLOYMENTS[n % DEPLOYMENTS.length], variant: `v${n % 3}`, role: 'served', reward: (n % 7) / 7 });

async function produce(producer: Producer, topic: string, count: number, event: (n: number) => { requestId: string }, timestamp: number): Promise<void> {
  for (let n = 0; n < count; n += CHUNK) {
    const messages = Array.from({ length: Math.min(CHUNK, count - n) }, (_, i) => event(n + i)).map((e) => ({
      key: e.requestId,
      value: JSON.stringify(e),
      timestamp: String(timestamp),
    }));
    await producer.send({ topic, messages });
  }
}

interface Measured {
  size: number;
  withCheckpointS: number;
  withoutCheckpointS: number;
  /** 1-minute load averages as each of the two measurements ended. */
  load: [withCheckpoint: number, withoutCheckpoint: number];
  firstPassS: number;
}

async function measureSize(size: number, kafka: Kafka): Promise<Measured> {
  const prefix = `${TOPIC_PREFIX}h${size}.`;
  const topics = topicNames(prefix);
  const redisPrefix = 'recovery:';
  const server = await startPrivateRedis();
  const redis = new Redis(server.url);
  redis.on('error', () => undefined);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const common = { TOPIC_PREFIX: prefix, REDIS_URL: server.url, REDIS_PREFIX: redisPrefix, LOG_LEVEL: 'warn' };
  const joinerEnv = { ...common, JOIN_GROUP: `${prefix}joiner`, INSTANCE_ID: `bench-${size}` };
  const updaterEnv = { ...common, UPDATE_GROUP: `${prefix}updater` };
  let joiner: Service | undefined;
  let updater: Service | undefined;

  /** Predictions the joiner's reports count, and rewards the updater's statistics hold. */
  const held = async (): Promise<{ reported: number; applied: number }> => {
    let reported = 0;
    let applied = 0;
    for (const d of DEPLOYMENTS) {
      const report = await redis.hgetall(`${redisPrefix}{${d}}:report`);
      for (const [field, value] of Object.entries(report)) if (field.endsWith(':requests')) reported += Number(value);
      for (const arm of Object.values(parseStats(await redis.hgetall(`${redisPrefix}{${d}}:stats`)))) applied += arm.count;
    }
    return { reported, applied };
  };
  const until = async (count: number, timeoutS: number) => {
    const started = performance.now();
    for (;;) {
      const { reported, applied } = await held().catch(() => ({ reported: -1, applied: -1 }));
      if (reported === count && applied === count) return (performance.now() - started) / 1000;
      if (performance.now() - started > timeoutS * 1000) throw new Error(`after ${timeoutS} s: reported ${reported}, applied ${applied} of ${count}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  let total = size;
  /** Redis restarted empty, one more prediction and joined event per partition; seconds until both consumers hold everything. */
  const wipe = async () => {
    await server.restartEmpty();
    const started = performance.now();
    for (const [topic, event] of [
      [topics.predictions, prediction],
      [topics.joined, joined],
    ] as const) {
      await producer.send({
        topic,
        messages: Array.from({ length: PARTITIONS }, (_, p) => ({ partition: p, key: `t-${total + p}`, value: JSON.stringify(event(total + p)) })),
      });
    }
    total += PARTITIONS;
    await until(total, 3600);
    return (performance.now() - started) / 1000;
  };

  try {
    // The first joiner creates the topics (the checkpoints topic compacted) before the history is written.
    joiner = await startService(`recovery-joiner-${size}`, 'dist/apps/feedback-joiner/src/main.js', {
      ...joinerEnv,
      JOIN_WINDOW_SECONDS: '1',
      JOIN_SWEEP_INTERVAL_MS: '500',
      CHECKPOINT_INTERVAL_MS: '2000',
    });
    updater = await startService(`recovery-updater-${size}`, 'dist/apps/bandit-updater/src/main.js', { ...updaterEnv, CHECKPOINT_INTERVAL_MS: '2000' });
    const at = Date.now() - HISTORY_AGE_MS;
    const produced = performance.now();
    await produce(producer, topics.predictions, size, prediction, at);
    await produce(producer, topics.joined, size, joined, at);
    log(`${size}: history written in ${((performance.now() - produced) / 1000).toFixed(1)} s`);
    const firstPassS = await until(size, 3600);
    log(`${size}: taken in ${firstPassS.toFixed(1)} s after it was written`);
    await stopService(joiner);
    joiner = await startService(`recovery-joiner-${size}`, 'dist/apps/feedback-joiner/src/main.js', { ...joinerEnv, CHECKPOINT_INTERVAL_MS: '2000' });
    // Checkpoints covering everything: a few intervals after the consumers caught up.
    await new Promise((resolve) => setTimeout(resolve, 7000));
    const withCheckpointS = await wipe();
    const loadWith = os.loadavg()[0];
    log(`${size}: consuming again ${withCheckpointS.toFixed(2)} s after Redis was lost, with checkpoints`);

    await Promise.all([stopService(joiner), stopService(updater)]);
    // Tombstones delete both checkpoints.
    await producer.send({ topic: topics.checkpoints, messages: ['report', 'statistics'].map((key) => ({ key, value: null })) });
    const never = { CHECKPOINT_INTERVAL_MS: String(24 * 3600 * 1000) };
    joiner = await startService(`recovery-joiner-${size}`, 'dist/apps/feedback-joiner/src/main.js', { ...joinerEnv, ...never });
    updater = await startService(`recovery-updater-${size}`, 'dist/apps/bandit-updater/src/main.js', { ...updaterEnv, ...never });
    const withoutCheckpointS = await wipe();
    const loadWithout = os.loadavg()[0];
    log(`${size}: consuming again ${withoutCheckpointS.toFixed(2)} s after Redis was lost, without checkpoints`);
    return { size, withCheckpointS, withoutCheckpointS, load: [loadWith, loadWithout], firstPassS };
  } finally {
    await Promise.all([joiner, updater].map((s) => s && stopService(s)));
    await producer.disconnect().catch(() => undefined);
    redis.disconnect();
    await server.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sizes: { type: 'string', default: '10000,100000,1000000' } } });
  const sizes = values.sizes!.split(',').map(Number);
  const kafka = new Kafka({ brokers: brokers(), clientId: 'bench-recovery', logLevel: logLevel.NOTHING });
  const rows: Measured[] = [];
  try {
    for (const size of sizes) rows.push(await measureSize(size, kafka));
  } finally {
    await cleanupData();
  }
  process.stdout.write(
    `\n${os.cpus().length} cores\n\n| history (predictions + joined events) | with checkpoints (load) | without: whole history read (load) | first pass |\n|---|---|---|---|\n`,
  );
  for (const r of rows)
    process.stdout.write(
      `| ${r.size.toLocaleString('en')} + ${r.size.toLocaleString('en')} | ${r.withCheckpointS.toFixed(1)} s (${r.load[0].toFixed(1)}) | ${r.withoutCheckpointS.toFixed(1)} s (${r.load[1].toFixed(1)}) | ${r.firstPassS.toFixed(1)} s |\n`,
    );
}

void main().catch((error) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
