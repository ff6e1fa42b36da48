/**
 * `npm run test:faults`: the whole stack on a 3-broker cluster under steady traffic while
 * every service is SIGKILLed and restarted one at a time, one broker is killed and
 * restarted, and a Redis of the suite's own is restarted empty. Afterwards it counts from
 * the topics themselves (read committed) what was answered, lost or doubled, prints a
 * table and exits non-zero on any loss or double.
 *
 * Run by scripts/faults.sh, which starts the cluster (KAFKA_NODES=3, its own ports) and
 * passes KAFKA_BROKERS. Env: FAULTS_REDIS_PORT (default: a free port), FAULTS_RATE (HTTP
 * requests per second, default 40), FAULTS_INGRESS_RATE (Kafka requests per second, 5).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Kafka, logLevel, Partitioners, Producer } from 'kafkajs';
import { CHECKPOINTED_STORES, JoinedEvent, parseAndValidate, topicNames } from '@switchyard/contracts';
import { groundTruth, randomFeatures, seededRng, toInferInputs } from '@switchyard/demo-models';
import { parseStats } from '@switchyard/store';
import { ArmStats, recountRewards } from '@switchyard/strategies';
import { sendEvents } from '../test/support/events';
import { HOSTILE, HOSTILE_KEY } from '../test/support/hostile';
import { redisAnswers } from '../test/support/private-redis';
import { countPairs, firstByRequest, Read } from './pairs';

const ROOT = join(__dirname, '..', '..');
const RUN = `faults-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
const LOGS = join(ROOT, '.faults', RUN);
const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094';
const KAFKA_PORT = Number(BROKERS.split(',')[0].split(':')[1]);
const RATE = Number(process.env.FAULTS_RATE ?? 40);
const INGRESS_RATE = Number(process.env.FAULTS_INGRESS_RATE ?? 5);
const DEPLOYMENT = 'faults';
const TOPIC_PREFIX = `${RUN}.`;
const REDIS_PREFIX = `${RUN}:`;
const topics = topicNames(TOPIC_PREFIX);
const started = Date.now();
/** How long a service may take to be ready or to commit again: booting alone took over 90 s on a loaded 2-core machine. */
const PATIENCE_MS = 240000;

const log = (message: string) => process.stdout.write(`[faults +${((Date.now() - started) / 1000).toFixed(1)}s] ${message}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(check: () => Promise<T> | T, what: string, timeoutMs = 60000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(intervalMs);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

// --- the services, as scripts/stack.sh lists them ------------------------------------

interface Service {
  name: string;
  main: string;
  port: number;
  /** Consumer group, and the topics it consumes (known services only). */
  group?: { env: string; id: string; topics: string[] };
  child?: ChildProcess;
}

const CONSUMERS: Record<string, { env: string; topics: string[] }> = {
  router: { env: 'INGRESS_GROUP', topics: [topics.requests] },
  'shadow-worker': { env: 'SHADOW_GROUP', topics: [topics.shadowRequests] },
  'feedback-joiner': { env: 'JOIN_GROUP', topics: [topics.predictions, topics.shadowPredictions, topics.feedback] },
  'bandit-updater': { env: 'UPDATE_GROUP', topics: [topics.joined] },
};

/** Every `"name:${PORT_VAR:-port}:dist/...main.js[:grpc port]"` line of stack.sh, so a service added there is faulted too. */
function stackServices(): { name: string; main: string }[] {
  const text = readFileSync(join(ROOT, 'scripts', 'stack.sh'), 'utf8');
  return [...text.matchAll(/^\s*"([a-z0-9-]+):\$\{[A-Z_]+:-\d+\}:(dist\/[^":]+\.js)(?::[^"]*)?"/gm)].map((m) => ({ name: m[1], main: m[2] }));
}

let redisUrl = '';
const services: Service[] = [];
/** The router the suite starts is closed by default: it gets this key, and `put()` sends it. */
process.env.ADMIN_API_KEY ??= `faults-admin-${randomBytes(12).toString('hex')}`;

const env = (service: Service): Record<string, string> =>
  ({
    ...process.env,
    KAFKA_BROKERS: BROKERS,
    REDIS_URL: redisUrl,
    TOPIC_PREFIX,
    REDIS_PREFIX,
    PORT: String(service.port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    INSTANCE_ID: `${RUN}-${service.name}`,
    KAFKA_SESSION_TIMEOUT_MS: '6000',
    KAFKA_HEARTBEAT_MS: '500',
    CONSUMER_LAG_INTERVAL_MS: '2000',
    REFRESH_INTERVAL_MS: '500',
    JOIN_SWEEP_INTERVAL_MS: '5000',
    // Checkpoints before every Redis kill, so the rebuilds start from one.
    CHECKPOINT_INTERVAL_MS: '5000',
    ...(service.group ? { [service.group.env]: service.group.id } : {}),
  }) as Record<string, string>;

function start(service: Service): void {
  const out = createWriteStream(join(LOGS, `${service.name}.log`), { flags: 'a' });
  const child = spawn(process.execPath, [join(ROOT, service.main)], { env: env(service), stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  service.child = child;
}

const ready = async (port: number) => (await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined))?.ok;

async function kill(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

// --- Kafka helpers -----------------------------------------------------------------

// A connection may take seconds on a loaded machine (kafkajs's default allows 1 s), a request
// over 30 s (an OffsetFetch timed out at a load average of 28 and ended a run): the suite measures the stack, not its own client.
const kafka = new Kafka({
  clientId: RUN,
  brokers: BROKERS.split(','),
  logLevel: logLevel.NOTHING,
  connectionTimeout: 10000,
  requestTimeout: 90000,
  retry: { retries: 20, initialRetryTime: 200, maxRetryTime: 3000 },
});

/** A group's committed offsets summed; asked again while its coordinator moves (a broker killed under it threw "not the correct coordinator" and ended a run). */
async function committed(groupId: string, groupTopics: string[]): Promise<number> {
  const { sum } = await waitFor(async () => ({ sum: await committedOnce(groupId, groupTopics) }), `${groupId}'s committed offsets`, PATIENCE_MS, 500);
  return sum;
}

async function committedOnce(groupId: string, groupTopics: string[]): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchOffsets({ groupId, topics: groupTopics });
    return offsets.flatMap((t) => t.partitions).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Everything committed to `topic` (read committed), read up to the high-water marks as they are now. */
async function readAll(topic: string): Promise<Read[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
  await admin.disconnect();
  const out: Read[] = [];
  const reached = new Map<number, number>();
  const consumer = kafka.consumer({ groupId: `${RUN}-reader-${randomBytes(3).toString('hex')}`, readUncommitted: false });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const message of batch.messages) {
        const raw = message.value?.toString() ?? null;
        let value: unknown = raw;
        try {
          value = raw === null ? null : JSON.parse(raw);
        } catch {
          // kept raw
        }
        out.push({ topic, key: message.key?.toString() ?? null, value, raw: message.value, partition: batch.partition, offset: Number(message.offset) });
      }
      // A transaction's commit marker is the last offset and never delivered: the batch's own end says how far it got.
      reached.set(batch.partition, Math.max(reached.get(batch.partition) ?? 0, Number(batch.lastOffset()) + 1));
    },
  });
  await waitFor(() => [...ends].every(([partition, high]) => high === 0 || (reached.get(partition) ?? 0) >= high), `${topic} read to its end`, 120000, 200);
  await consumer.disconnect();
  return out;
}

// --- traffic -------------------------------------------------------------------------

interface Sent {
  requestId: string;
  status: number | 'error';
  feedback?: number | 'error';
  via: 'http' | 'kafka';
  at: number;
  /** The fault in progress when it was sent. */
  phase: string;
}

let phase = 'steady';

const sent: Sent[] = [];
let routerPort = 0;
let modelPort = 0;
let stopTraffic = false;
let producer: Producer;
let ingressChain: Promise<void> = Promise.resolve();
/** The hostile records' own producer: queued behind the ingress sends (one at a time, slower than 5/s on a loaded machine) they waited for minutes. */
let hostileProducer: Producer;
const rng = seededRng(7);

const spec = () => ({
  variants: [
    { name: 'v1', url: `http://127.0.0.1:${modelPort}`, model: 'churn-v1', timeoutMs: 1000 },
    { name: 'v2', url: `http://127.0.0.1:${modelPort}`, model: 'churn-v2', timeoutMs: 1000 },
  ],
  strategy: { type: 'shadow', primary: 'v1', shadows: ['v2'] },
  reward: { type: 'match', outputPath: '0.data.0' },
});

async function put(): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${routerPort}/v1/deployments/${DEPLOYMENT}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${process.env.ADMIN_API_KEY!.split(',')[0]}` },
    body: JSON.stringify(spec()),
    signal: AbortSignal.timeout(10000),
  });
  if (!response.ok) throw new Error(`PUT ${DEPLOYMENT} → ${response.status} ${await response.text()}`);
}

/** The deployment's current version as the router reads it from Redis (0 while it is not there). */
async function deployedVersion(): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${routerPort}/v1/deployments/${DEPLOYMENT}`, { signal: AbortSignal.timeout(10000) }).catch(() => undefined);
  return response?.ok ? Number(((await response.json()) as { version: number }).version) : 0;
}

async function httpRequest(i: number): Promise<void> {
  const requestId = `${RUN}-h${i}`;
  const features = randomFeatures(rng);
  const record: Sent = { requestId, status: 'error', via: 'http', at: Date.now(), phase };
  sent.push(record);
  try {
    const response = await fetch(`http://127.0.0.1:${routerPort}/v1/deployments/${DEPLOYMENT}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: toInferInputs(features), requestId }),
      signal: AbortSignal.timeout(10000),
    });
    record.status = response.status;
    await response.arrayBuffer();
  } catch {
    return;
  }
  if (record.status !== 200) return;
  try {
    const response = await fetch(`http://127.0.0.1:${routerPort}/v1/feedback`, {
      method: 'POST',
      // Feedback is keyed like the control plane; the admin key is accepted for it.
      headers: { 'content-type': 'application/json', authorization: `Bearer ${process.env.ADMIN_API_KEY!.split(',')[0]}` },
      body: JSON.stringify({ requestId, label: groundTruth(features) }),
      signal: AbortSignal.timeout(10000),
    });
    record.feedback = response.status;
    await response.arrayBuffer();
  } catch {
    record.feedback = 'error';
  }
}

async function ingressRequest(i: number): Promise<void> {
  const requestId = `${RUN}-k${i}`;
  const record: Sent = { requestId, status: 'error', via: 'kafka', at: Date.now(), phase };
  sent.push(record);
  const value = JSON.stringify({ requestId, deployment: DEPLOYMENT, inputs: toInferInputs(randomFeatures(rng)) });
  // One send at a time: concurrent sends of an idempotent kafkajs producer can break its sequence numbers when a leader moves.
  const sending = ingressChain.then(() => producer.send({ topic: topics.requests, messages: [{ key: requestId, value }] }));
  ingressChain = sending.then(
    () => undefined,
    () => undefined,
  );
  try {
    await sending;
    record.status = 202;
  } catch {
    record.status = 'error';
  }
}

/** Open loop at `rate` per second: a slow answer never slows the offered load. */
async function loop(rate: number, send: (i: number) => Promise<void>): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  const t0 = Date.now();
  for (let i = 0; !stopTraffic; i++) {
    const due = t0 + (i * 1000) / rate;
    if (due > Date.now()) await sleep(due - Date.now());
    const p = send(i).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  await Promise.all(inFlight);
}

// --- the faults ----------------------------------------------------------------------

interface Recovery {
  fault: string;
  /** The phase its requests were sent in: the pairs counted against it. */
  phase: string;
  readyMs?: number;
  consumingMs?: number;
  note?: string;
  /** The statistics against a recount once every group consumed again (the Redis rows). */
  statistics?: StatisticsCheck;
}
const recoveries: Recovery[] = [];

async function killAndRestart(service: Service): Promise<void> {
  const before = service.group ? await committed(service.group.id, service.group.topics) : 0;
  log(`SIGKILL ${service.name}`);
  phase = `${service.name} killed`;
  await kill(service.child);
  await sleep(1000);
  const t0 = Date.now();
  start(service);
  await waitFor(() => ready(service.port), `${service.name} ready again`, PATIENCE_MS);
  const recovery: Recovery = { fault: `SIGKILL ${service.name}, restart after 1 s`, phase, readyMs: Date.now() - t0 };
  if (service.group) {
    const { id, topics: groupTopics } = service.group;
    // Consuming again: the group's committed offsets move past where they were at the kill.
    await waitFor(async () => (await committed(id, groupTopics)) > before, `${service.name} to commit again`, PATIENCE_MS, 200);
    recovery.consumingMs = Date.now() - t0;
  }
  recoveries.push(recovery);
  phase = 'steady';
  log(`${service.name} back: ready after ${recovery.readyMs} ms${recovery.consumingMs === undefined ? '' : `, consuming after ${recovery.consumingMs} ms`}`);
}

function brokerDir(node: number): string {
  return join(ROOT, '.infra', `kafka-${KAFKA_PORT}`, `node-${node}`);
}

function sigkillBroker(node: number): void {
  const pid = Number(readFileSync(join(brokerDir(node), 'kafka.pid'), 'utf8'));
  log(`SIGKILL broker node ${node} (pid ${pid})`);
  process.kill(pid, 'SIGKILL');
}

/** Starts the brokers that are not running, asynchronously: a blocked event loop would stop the traffic, then send it all at once. */
function startBrokers(): Promise<void> {
  log('restarting the brokers that are down');
  return new Promise<void>((resolve, reject) => {
    const infra = spawn('bash', [join(ROOT, 'scripts', 'infra.sh'), 'kafka'], {
      env: { ...process.env, KAFKA_NODES: '3', KAFKA_PORT: String(KAFKA_PORT) },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    infra.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`infra.sh kafka exited with ${code}`))));
  });
}

async function killBroker(node: number, groups: Service[]): Promise<void> {
  const before = new Map(await Promise.all(groups.map(async (s) => [s.name, await committed(s.group!.id, s.group!.topics)] as const)));
  phase = `broker ${node} killed`;
  sigkillBroker(node);
  const t0 = Date.now();
  // Every consumer keeps going on the two brokers left.
  const moving = await Promise.all(
    groups.map(async (s) => {
      await waitFor(
        async () => (await committed(s.group!.id, s.group!.topics)) > before.get(s.name)!,
        `${s.name} to commit with a broker down`,
        PATIENCE_MS,
        250,
      );
      return `${s.name} ${Date.now() - t0} ms`;
    }),
  );
  await sleep(Math.max(0, 10000 - (Date.now() - t0)));
  const t1 = Date.now();
  await startBrokers();
  recoveries.push({
    fault: `SIGKILL broker ${node}, restart after 10 s`,
    phase,
    readyMs: Date.now() - t1,
    note: `consumers committing with it down: ${moving.join(', ')}`,
  });
  phase = 'steady';
}

let redis: ChildProcess | undefined;
let redisPort = 0;

function startRedis(): void {
  const dir = join(ROOT, '.infra', 'faults-redis');
  mkdirSync(dir, { recursive: true });
  redis = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(redisPort), '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
}

/** A group's committed offsets, by `topic/partition`. */
async function offsetsOf(group: string, groupTopics: string[]): Promise<Map<string, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchOffsets({ groupId: group, topics: groupTopics });
    return new Map(offsets.flatMap((t) => t.partitions.map((p) => [`${t.topic}/${p.partition}`, Math.max(0, Number(p.offset))] as const)));
  } finally {
    await admin.disconnect();
  }
}

/**
 * Waits until the service's group has committed up to the ends its topics have now: the
 * backlog it had is worked off (whatever arrives meanwhile is not waited for).
 */
async function drain(service: Service, timeoutMs = 180000): Promise<number> {
  const { id, topics: groupTopics } = service.group!;
  const t0 = Date.now();
  const admin = kafka.admin();
  await admin.connect();
  const ends = await Promise.all(
    groupTopics.map(async (topic) => (await admin.fetchTopicOffsets(topic)).map((p) => [`${topic}/${p.partition}`, Number(p.high)] as const)),
  );
  await admin.disconnect();
  await waitFor(
    async () => {
      const at = await offsetsOf(id, groupTopics);
      return ends.flat().every(([partition, high]) => (at.get(partition) ?? 0) >= high);
    },
    `${service.name} to work off its backlog`,
    timeoutMs,
    500,
  );
  return Date.now() - t0;
}

/** Kills the suite's Redis and starts it again, empty, on the same port. */
async function restartRedisEmpty(): Promise<void> {
  await kill(redis);
  startRedis();
  await waitFor(() => redisAnswers(redisUrl), 'Redis again');
}

/**
 * Waits up to `timeoutMs` for `key` to be held in the suite's Redis (a rebuild or a
 * restore under way: its lock); answers whether it was seen.
 */
async function whileHeld(key: string, timeoutMs: number): Promise<boolean> {
  const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  try {
    await waitFor(async () => (await client.exists(`${REDIS_PREFIX}${key}`)) === 1, key, timeoutMs, 10);
    return true;
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** Time until every one of `groups` commits past where it is now. */
async function untilConsuming(groups: Service[], t0: number): Promise<string> {
  const before = await Promise.all(groups.map((s) => committed(s.group!.id, s.group!.topics)));
  const times = await Promise.all(
    groups.map(async (s, i) => {
      await waitFor(async () => (await committed(s.group!.id, s.group!.topics)) > before[i], `${s.name} to commit again`, PATIENCE_MS, 200);
      return Date.now() - t0;
    }),
  );
  return groups.map((s, i) => `${s.name} ${times[i]} ms`).join(', ');
}

/** Hostile records written to each topic (issue #26), by topic. */
const hostileWritten = new Map<string, number>();

/**
 * Every hostile record (test/support/hostile.ts) on every topic a rebuild reads: the three
 * the join state is rebuilt from, the joined topic (the claims, and the statistics), the spec
 * log and the checkpoints topic, there under each store's key (a reader looks at its own
 * only). The live consumers dead-letter those of their topics; every rebuild must skip them.
 */
async function poisonHistory(): Promise<void> {
  for (const topic of [topics.predictions, topics.shadowPredictions, topics.feedback, topics.joined, topics.deploymentSpecs]) {
    await sendEvents(hostileProducer, topic, HOSTILE);
    hostileWritten.set(topic, (hostileWritten.get(topic) ?? 0) + HOSTILE.length);
  }
  for (const store of CHECKPOINTED_STORES) await hostileProducer.send({ topic: topics.checkpoints, messages: HOSTILE.map((value) => ({ key: store, value })) });
  hostileWritten.set(topics.checkpoints, (hostileWritten.get(topics.checkpoints) ?? 0) + HOSTILE.length * CHECKPOINTED_STORES.length);
}

interface StatisticsCheck {
  ok: boolean;
  text: string;
}

/** A deployment's joined events as the updater takes them in (what it refuses left out), with where each was. */
function placedJoined(joined: Read[]) {
  return joined.flatMap((j) => {
    const parsed = parseAndValidate(JoinedEvent, j.raw ?? null);
    return parsed.ok ? [{ ...parsed.value, partition: j.partition, offset: String(j.offset) }] : [];
  });
}

/** Statistics from Redis against a recount of `events`: counts exactly, sums within rounding. */
function compareStatistics(inRedis: Record<string, ArmStats>, events: ReturnType<typeof placedJoined>): StatisticsCheck {
  const recount = recountRewards(events).get(DEPLOYMENT) ?? {};
  const problems = Object.entries(recount)
    .filter(([arm, want]) => inRedis[arm]?.count !== want.count || Math.abs((inRedis[arm]?.sum ?? 0) - want.sum) > 1e-6)
    .map(([arm, want]) => `${arm}: ${inRedis[arm]?.count ?? 0} in Redis, ${want.count} recounted`);
  for (const arm of Object.keys(inRedis)) if (!recount[arm]) problems.push(`${arm}: in Redis, not in the recount`);
  return problems.length
    ? { ok: false, text: problems.join('; ') }
    : { ok: true, text: `equal (${Object.keys(recount).length} arms, ${events.length} events)` };
}

/**
 * The statistics against a recount of the joined topic up to the offsets they hold: the
 * positions hash, read in the same MULTI as the statistics. Exact under traffic, since the
 * updater takes each partition in, in order, once, moving its position in the same atomic
 * step (apply-rewards.lua).
 */
async function statisticsNow(): Promise<StatisticsCheck> {
  const client = new Redis(redisUrl);
  let replies: [Error | null, unknown][] | null;
  try {
    replies = await client.multi().hgetall(`${REDIS_PREFIX}{${DEPLOYMENT}}:stats`).hgetall(`${REDIS_PREFIX}{${DEPLOYMENT}}:positions`).exec();
  } finally {
    client.disconnect();
  }
  const [stats, positions] = replies!.map(([error, reply]) => {
    if (error) throw error;
    return reply as Record<string, string>;
  });
  const taken = (e: { partition: number; offset: string }) => positions[e.partition] !== undefined && BigInt(e.offset) <= BigInt(positions[e.partition]);
  return compareStatistics(parseStats(stats), placedJoined(await readAll(topics.joined)).filter(taken));
}

/**
 * One Redis row (issue #26): hostile records on every topic a rebuild reads, then `fault`
 * (which loses Redis); timed from the fault until every group commits again, then the
 * statistics against a recount. Requests sent meanwhile are the row's pairs.
 */
async function redisRow(
  fault: string,
  rowPhase: string,
  consumers: Service[],
  run: (t0: number) => Promise<{ note: string; readyMs?: number }>,
): Promise<void> {
  phase = rowPhase;
  await poisonHistory();
  log(`hostile records written; ${fault}`);
  const t0 = Date.now();
  const { note, readyMs } = await run(t0);
  const consuming = await untilConsuming(consumers, t0);
  const consumingMs = Date.now() - t0;
  phase = 'steady';
  const statistics = await statisticsNow();
  recoveries.push({
    fault: `hostile records in every input topic, then ${fault}`,
    phase: rowPhase,
    readyMs,
    consumingMs,
    note: `${note}; committing again: ${consuming}`,
    statistics,
  });
  log(`${rowPhase}: every group consuming after ${consumingMs} ms; statistics ${statistics.text}`);
}

/**
 * Redis restarted empty while the joiner rebuilds its join state (its rebuild lock held):
 * the rebuild loses its lock with the rest and starts over.
 */
const wipeDuringRebuild = (consumers: Service[]) =>
  redisRow('SIGKILL Redis, restart empty, SIGKILL it again while the joiner rebuilds, restart empty', 'Redis killed during a rebuild', consumers, async () => {
    await restartRedisEmpty();
    const during = await whileHeld('join:rebuild-lock', 30000);
    await restartRedisEmpty();
    return { note: during ? 'second kill during the rebuild (lock held)' : 'rebuild not seen within 30 s: second kill after it' };
  });

/**
 * Redis restarted empty, then the joiner and the updater SIGKILLed while they restore
 * their checkpoints (their rebuild or restore lock held), and restarted: the lock lives
 * on until it expires, then a process restores again from the start.
 */
const killDuringRestore = (joiner: Service, updater: Service, consumers: Service[]) =>
  redisRow(
    'SIGKILL Redis, restart empty, SIGKILL the joiner and the updater while they restore their checkpoints, restart them',
    'killed during a restore',
    consumers,
    async () => {
      await restartRedisEmpty();
      const seen = await Promise.all(
        [
          [joiner, 'join:rebuild-lock'],
          [updater, 'statistics:restore-lock'],
        ].map(async ([service, lock]) => {
          const held = await whileHeld(lock as string, 30000);
          await kill((service as Service).child);
          start(service as Service);
          return `${(service as Service).name} ${held ? 'killed while restoring' : 'not seen restoring within 30 s, killed after'}`;
        }),
      );
      await Promise.all([joiner, updater].map((s) => waitFor(() => ready(s.port), `${s.name} ready again`, PATIENCE_MS)));
      return { note: seen.join('; ') };
    },
  );

/** The broker leading partition 0 of `topic` (its node number: infra.sh gives node n the id n). */
async function leaderOf(topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const {
      topics: [metadata],
    } = await admin.fetchTopicMetadata({ topics: [topic] });
    return metadata.partitions.find((p) => p.partitionId === 0)!.leader;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Redis restarted empty, and while the joiner rebuilds (its lock held) the broker leading
 * the checkpoints topic, the first a rebuild reads, SIGKILLed; restarted 10 s later while
 * the groups are waited for. Answers when the broker is back.
 */
async function brokerDuringRebuild(consumers: Service[]): Promise<void> {
  let back: Promise<number> = Promise.resolve(0);
  await redisRow(
    'SIGKILL Redis, restart empty, SIGKILL the broker leading the checkpoints topic while the joiner rebuilds, restart it after 10 s',
    'broker killed during a rebuild',
    consumers,
    async () => {
      const node = await leaderOf(topics.checkpoints);
      await restartRedisEmpty();
      const during = await whileHeld('join:rebuild-lock', 30000);
      sigkillBroker(node);
      back = sleep(10000).then(async () => {
        const t1 = Date.now();
        await startBrokers();
        return Date.now() - t1;
      });
      return { note: `broker ${node} ${during ? 'killed during the rebuild (lock held)' : 'killed after it (rebuild not seen within 30 s)'}` };
    },
  );
  const row = recoveries[recoveries.length - 1];
  row.note += `; broker back ${await back} ms after its restart began`;
}

// --- main ----------------------------------------------------------------------------

async function main(): Promise<void> {
  mkdirSync(LOGS, { recursive: true });
  redisPort = Number(process.env.FAULTS_REDIS_PORT ?? (await freePort()));
  redisUrl = `redis://127.0.0.1:${redisPort}`;
  startRedis();
  await waitFor(() => redisAnswers(redisUrl), "the suite's Redis");
  log(`run ${RUN}: brokers ${BROKERS}, Redis ${redisUrl} (the suite's own), logs ${LOGS}`);

  for (const { name, main } of stackServices()) {
    const consumer = CONSUMERS[name];
    services.push({ name, main, port: await freePort(), group: consumer && { env: consumer.env, id: `${RUN}-${name}`, topics: consumer.topics } });
  }
  const byName = (name: string) => services.find((s) => s.name === name)!;
  routerPort = byName('router').port;
  modelPort = byName('model-server').port;
  // model-server first (the router checks nothing at boot, but traffic needs it), router second: it creates the topics.
  for (const service of services) {
    start(service);
    await waitFor(() => ready(service.port), `${service.name} ready`, PATIENCE_MS);
  }
  log(`stack up: ${services.map((s) => `${s.name}:${s.port}`).join(' ')}`);
  await put();
  producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 5,
    retry: { retries: Number.MAX_SAFE_INTEGER, maxRetryTime: 3000 },
  });
  await producer.connect();
  hostileProducer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await hostileProducer.connect();

  const traffic = Promise.all([loop(RATE, httpRequest), loop(INGRESS_RATE, ingressRequest)]);
  await sleep(8000);

  for (const service of services) {
    await killAndRestart(service);
    await sleep(3000);
  }
  const consumers = services.filter((s) => s.group);
  await killBroker(2, consumers);
  await sleep(3000);

  // The broker kill leaves a backlog (the joiner's was over a minute long under load): worked
  // off before Redis dies, or every pair it holds is split by the restart and never checked.
  const pipeline = ['router', 'shadow-worker', 'feedback-joiner'].map(byName);
  const drained: string[] = [];
  for (const s of pipeline) drained.push(`${s.name} ${await drain(s)} ms`);
  log(`backlog worked off before the Redis kill: ${drained.join(', ')}`);

  // Redis: killed, restarted empty on the same port. Kafka is the record: the routers
  // restore the deployment from the spec log, the joiner its join state, the updater its
  // statistics, with nobody's help; every pair must still join exactly once.
  await redisRow('SIGKILL Redis, restart (empty) after 2 s', 'Redis killed', consumers, async (t0) => {
    const versionBefore = await deployedVersion();
    await kill(redis);
    await sleep(2000);
    startRedis();
    await waitFor(() => redisAnswers(redisUrl), 'Redis again');
    await waitFor(async () => (await deployedVersion()) === versionBefore, `the deployment restored at version ${versionBefore}`, PATIENCE_MS, 100);
    return { readyMs: Date.now() - t0, note: `ready: the deployment restored from the spec log; backlog worked off before the kill: ${drained.join(', ')}` };
  });
  await sleep(8000);

  await wipeDuringRebuild(consumers);
  await sleep(8000);
  await killDuringRestore(byName('feedback-joiner'), byName('bandit-updater'), consumers);
  await sleep(8000);
  await brokerDuringRebuild(consumers);
  await sleep(8000);

  stopTraffic = true;
  await traffic;
  log(`traffic stopped: ${sent.length} requests sent; waiting for every group to catch up`);
  // In pipeline order (router, shadow-worker, joiner, updater): each waits for what the one before wrote.
  for (const s of consumers) await drain(s);
  // The joiner's expiry sweep and the updater's snapshots are not waited for: only joins and statistics are counted.
  const statsNow = await (async () => {
    const client = new Redis(redisUrl);
    try {
      return parseStats(await client.hgetall(`${REDIS_PREFIX}{${DEPLOYMENT}}:stats`));
    } finally {
      client.disconnect();
    }
  })();
  for (const service of [...services].reverse()) await kill(service.child, 'SIGTERM');
  await Promise.all([producer.disconnect(), hostileProducer.disconnect()]);

  // --- counting, from the topics -----------------------------------------------------
  log('reading the topics back (read committed)');
  const [predictions, shadowPredictions, joined, responses, dlq, feedback] = await Promise.all(
    [topics.predictions, topics.shadowPredictions, topics.joined, topics.responses, topics.dlq, topics.feedback].map(readAll),
  );
  const firstPrediction = firstByRequest(predictions);
  const firstShadow = firstByRequest(shadowPredictions);
  const byPhase = (items: Sent[], extra: (s: Sent) => string = () => '') =>
    [...count(items, (s) => `${s.phase}${extra(s)}`)].map(([k, v]) => `${k}: ${v}`).join(', ') || 0;
  const count = <T>(items: T[], key: (t: T) => string) => items.reduce((m, t) => m.set(key(t), (m.get(key(t)) ?? 0) + 1), new Map<string, number>());
  const predictionsBy = count(predictions, (p) => p.value.requestId);
  const shadowBy = count(shadowPredictions, (p) => p.value.requestId);
  const servedJoins = count(
    joined.filter((j) => j.value.role === 'served'),
    (j) => j.value.requestId,
  );
  const shadowJoins = count(
    joined.filter((j) => j.value.role === 'shadow'),
    (j) => j.value.requestId,
  );
  const answeredIngress = count(
    responses.filter((r) => !r.value.error),
    (r) => r.value.requestId,
  );
  const errorIngress = new Set(responses.filter((r) => r.value.error).map((r) => r.value.requestId as string));

  const http = sent.filter((s) => s.via === 'http');
  const ingress = sent.filter((s) => s.via === 'kafka' && s.status === 202);
  const answered = http.filter((s) => s.status === 200);
  const refused = http.filter((s) => s.status !== 200);
  const missingHttp = answered.filter((s) => !predictionsBy.get(s.requestId)).length;
  const doubledHttp = answered.filter((s) => (predictionsBy.get(s.requestId) ?? 0) > 1).length;
  const answeredKafka = ingress.filter((s) => answeredIngress.has(s.requestId));
  const missingKafka = answeredKafka.filter((s) => !predictionsBy.get(s.requestId)).length;
  const errorKafka = ingress.filter((s) => !answeredIngress.has(s.requestId) && errorIngress.has(s.requestId));
  const unansweredKafka = ingress.length - answeredKafka.length - errorKafka.length;
  const redeliveredKafka = answeredKafka.filter((s) => (predictionsBy.get(s.requestId) ?? 0) > 1).length;
  // Served pairs: answered, feedback accepted; shadow pairs: of those, the ones whose served prediction is joinable.
  const served = countPairs({
    requestIds: answered.filter((s) => s.feedback === 202).map((s) => s.requestId),
    prediction: firstPrediction,
    joins: servedJoins,
  });
  const shadow = countPairs({ requestIds: served.joinable, prediction: firstShadow, joins: shadowJoins });
  const servedDoubled = [...servedJoins.values()].filter((n) => n > 1).length;
  const shadowDoubled = [...shadowJoins.values()].filter((n) => n > 1).length;
  const duplicateShadowEvents = [...shadowBy.values()].filter((n) => n > 1).length;
  // Redelivered shadow predictions whose first copy failed (a model timeout, say) and a later one did not: the joiner keeps the first.
  const shadowSucceeded = new Set(shadowPredictions.filter((m) => !m.value.error).map((m) => m.value.requestId as string));
  const firstShadowFailed = served.joinable.filter((id) => firstShadow.get(id)?.value.error !== undefined && shadowSucceeded.has(id)).length;
  // Every record of a lost pair, so lost.json says where it stopped.
  const trail = (id: string) => ({
    requestId: id,
    sent: sent.find((s) => s.requestId === id),
    records: [...predictions, ...shadowPredictions, ...feedback, ...joined]
      .filter((m) => m.value?.requestId === id)
      .map((m) => ({ topic: m.topic, partition: m.partition, offset: m.offset, role: m.value.role, error: m.value.error })),
  });

  // Statistics: Redis was emptied and the updater rebuilt them from the joined topic, so they equal a recount of all of it.
  const statistics = compareStatistics(statsNow, placedJoined(joined));

  // Every hostile record on a topic a live consumer reads is dead-lettered (a rebuild skips it, a
  // consumer rewound after one may dead-letter it again); nothing else is.
  const live = [topics.predictions, topics.shadowPredictions, topics.feedback, topics.joined];
  const hostileLive = live.reduce((n, topic) => n + (hostileWritten.get(topic) ?? 0), 0);
  const deadLettered = new Set(
    dlq.filter((m) => m.key === HOSTILE_KEY && live.includes(m.value.topic)).map((m) => `${m.value.topic}/${m.value.partition}/${m.value.offset}`),
  );
  const otherDlq = dlq.filter((m) => m.key !== HOSTILE_KEY);

  // Each fault's own pairs: those whose request was sent while it was in progress.
  const phaseOf = new Map(sent.map((s) => [s.requestId, s.phase]));
  const ofPhase = (ids: Iterable<string>, p: string) => [...ids].filter((id) => phaseOf.get(id) === p).length;
  const doubled = (joins: Map<string, number>) => [...joins].filter(([, n]) => n > 1).map(([id]) => id);
  const pairsOf = (p: string) =>
    `served ${ofPhase(served.joinable, p)}: ${ofPhase(served.lost, p)} / ${ofPhase(doubled(servedJoins), p)}; ` +
    `shadow ${ofPhase(shadow.joinable, p)}: ${ofPhase(shadow.lost, p)} / ${ofPhase(doubled(shadowJoins), p)}`;

  const rows: [string, string | number, boolean][] = [
    ['HTTP requests sent', http.length, true],
    ['  answered 200', answered.length, true],
    ['  refused or failed (phase status: count)', byPhase(refused, (s) => ` ${s.status}`), true],
    ['  answered, prediction event missing', missingHttp, missingHttp === 0],
    ['  answered, prediction event duplicated', doubledHttp, doubledHttp === 0],
    ['Kafka-ingress requests written', ingress.length, true],
    ['  answered on the responses topic', answeredKafka.length, true],
    ['  answered with an error (by phase)', byPhase(errorKafka), true],
    ['  no answer at all', unansweredKafka, unansweredKafka === 0],
    ['  answered, prediction event missing', missingKafka, missingKafka === 0],
    ["  prediction event written twice (redelivery after the router's SIGKILL; the joiner keeps the first)", redeliveredKafka, true],
    ['shadow prediction events written twice (redelivery after a SIGKILL; the joiner keeps the first)', duplicateShadowEvents, true],
    ['served pairs (answered, feedback accepted, first prediction event not an error)', served.joinable.length, true],
    ['  served joins lost (of the pairs that could join)', served.lost.length, served.lost.length === 0],
    ['  served joins doubled', servedDoubled, servedDoubled === 0],
    ['shadow pairs (as above, first shadow prediction event not an error)', shadow.joinable.length, true],
    ['  first shadow prediction failed, its redelivery did not (not a pair: the joiner keeps the first)', firstShadowFailed, true],
    ['  shadow joins lost (of the pairs that could join)', shadow.lost.length, shadow.lost.length === 0],
    ['  shadow joins doubled', shadowDoubled, shadowDoubled === 0],
    ['statistics against a recount of the joined topic (rebuilt after each Redis restart)', statistics.text, statistics.ok],
    ...recoveries
      .filter((r) => r.statistics)
      .map((r): [string, string, boolean] => [
        `  once every group consumed again after: ${r.phase} (up to the offsets they hold)`,
        r.statistics!.text,
        r.statistics!.ok,
      ]),
    [
      `hostile records written (before each Redis fault, on ${[...hostileWritten.keys()].map((t) => t.slice(TOPIC_PREFIX.length)).join(', ')})`,
      [...hostileWritten.values()].reduce((a, b) => a + b, 0),
      true,
    ],
    ['  of those on a consumed topic, dead-lettered by the live path', `${deadLettered.size} of ${hostileLive}`, deadLettered.size === hostileLive],
    ['DLQ records of anything else', otherDlq.length, otherDlq.length === 0],
  ];
  writeFileSync(join(LOGS, 'sent.json'), JSON.stringify(sent));
  writeFileSync(
    join(LOGS, 'lost.json'),
    JSON.stringify(
      {
        predictionMissing: answered.filter((s) => !predictionsBy.get(s.requestId)),
        predictionDoubled: answered.filter((s) => (predictionsBy.get(s.requestId) ?? 0) > 1),
        ingressMissing: answeredKafka.filter((s) => !predictionsBy.get(s.requestId)),
        ingressNoAnswer: ingress.filter((s) => !answeredIngress.has(s.requestId) && !errorIngress.has(s.requestId)),
        servedLost: served.lost.map(trail),
        shadowLost: shadow.lost.map(trail),
      },
      null,
      1,
    ),
  );
  const ok = rows.every(([, , pass]) => pass);
  const lines = [
    '',
    `| check | value | |`,
    `|---|---:|---|`,
    ...rows.map(([what, value, pass]) => `| ${what} | ${value} | ${pass ? '' : '**FAIL**'} |`),
    '',
    `| fault | ready again (ms) | consuming again (ms) | pairs sent during it: lost / doubled | statistics against a recount | note |`,
    `|---|---:|---:|---|---|---|`,
    ...recoveries.map(
      (r) =>
        `| ${r.fault} | ${r.readyMs ?? '–'} | ${r.consumingMs ?? '–'} | ${pairsOf(r.phase)} | ${r.statistics ? `${r.statistics.text}${r.statistics.ok ? '' : ' **FAIL**'}` : '–'} | ${r.note ?? ''} |`,
    ),
    '',
    `${ok ? 'PASS' : 'FAIL'}: ${RUN}, ${((Date.now() - started) / 1000).toFixed(0)} s; logs in ${LOGS}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  if (otherDlq.length) process.stdout.write(`first DLQ record: ${JSON.stringify(otherDlq[0].value).slice(0, 500)}\n`);
  await kill(redis, 'SIGTERM');
  process.exit(ok ? 0 : 1);
}

async function stopAll(): Promise<void> {
  stopTraffic = true;
  await Promise.all(services.map((s) => kill(s.child).catch(() => undefined)));
  await kill(redis).catch(() => undefined);
}

main().catch(async (error) => {
  process.stderr.write(`[faults] ${(error as Error).stack ?? error}\n`);
  await stopAll();
  process.exit(2);
});

process.on('SIGINT', () => void stopAll().finally(() => process.exit(130)));
process.on('SIGTERM', () => void stopAll().finally(() => process.exit(143)));
