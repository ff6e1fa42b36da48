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
import { JoinedEvent, topicNames } from '@switchyard/contracts';
import { groundTruth, randomFeatures, seededRng, toInferInputs } from '@switchyard/demo-models';
import { parseStats } from '@switchyard/store';
import { recountRewards } from '@switchyard/strategies';
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

// A connection may take seconds on a loaded machine (kafkajs's default allows 1 s): the suite measures the stack, not its own client.
const kafka = new Kafka({
  clientId: RUN,
  brokers: BROKERS.split(','),
  logLevel: logLevel.NOTHING,
  connectionTimeout: 10000,
  retry: { retries: 20, initialRetryTime: 200, maxRetryTime: 3000 },
});

async function committed(groupId: string, groupTopics: string[]): Promise<number> {
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
        out.push({ topic, key: message.key?.toString() ?? null, value, partition: batch.partition, offset: Number(message.offset) });
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
  readyMs?: number;
  consumingMs?: number;
  note?: string;
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
  const recovery: Recovery = { fault: `SIGKILL ${service.name}, restart after 1 s`, readyMs: Date.now() - t0 };
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

async function killBroker(node: number, groups: Service[]): Promise<void> {
  const pid = Number(readFileSync(join(brokerDir(node), 'kafka.pid'), 'utf8'));
  const before = new Map(await Promise.all(groups.map(async (s) => [s.name, await committed(s.group!.id, s.group!.topics)] as const)));
  log(`SIGKILL broker node ${node} (pid ${pid})`);
  phase = `broker ${node} killed`;
  process.kill(pid, 'SIGKILL');
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
  log(`restarting broker node ${node}`);
  const t1 = Date.now();
  // Asynchronously: a blocked event loop would stop the traffic, then send it all at once.
  await new Promise<void>((resolve, reject) => {
    const infra = spawn('bash', [join(ROOT, 'scripts', 'infra.sh'), 'kafka'], {
      env: { ...process.env, KAFKA_NODES: '3', KAFKA_PORT: String(KAFKA_PORT) },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    infra.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`infra.sh kafka exited with ${code}`))));
  });
  phase = 'steady';
  recoveries.push({
    fault: `SIGKILL broker ${node}, restart after 10 s`,
    readyMs: Date.now() - t1,
    note: `consumers committing with it down: ${moving.join(', ')}`,
  });
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

/**
 * Redis restarted empty while the joiner rebuilds its join state (its rebuild lock held):
 * the rebuild loses its lock with the rest and starts over.
 */
async function wipeDuringRebuild(consumers: Service[]): Promise<void> {
  log('SIGKILL Redis, then again while the joiner rebuilds');
  phase = 'Redis killed during a rebuild';
  const t0 = Date.now();
  await restartRedisEmpty();
  const during = await whileHeld('join:rebuild-lock', 30000);
  await restartRedisEmpty();
  const consuming = await untilConsuming(consumers, t0);
  recoveries.push({
    fault: 'SIGKILL Redis, restart empty, SIGKILL it again while the joiner rebuilds, restart empty',
    consumingMs: Date.now() - t0,
    note: `${during ? 'second kill during the rebuild (lock held)' : 'rebuild not seen within 30 s: second kill after it'}; committing again: ${consuming}`,
  });
  phase = 'steady';
}

/**
 * Redis restarted empty, then the joiner and the updater SIGKILLed while they restore
 * their checkpoints (their rebuild or restore lock held), and restarted: the lock lives
 * on until it expires, then a process restores again from the start.
 */
async function killDuringRestore(joiner: Service, updater: Service, consumers: Service[]): Promise<void> {
  log('SIGKILL Redis, then the joiner and the updater while they restore their checkpoints');
  phase = 'killed during a restore';
  const t0 = Date.now();
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
  const consuming = await untilConsuming(consumers, t0);
  recoveries.push({
    fault: 'SIGKILL Redis, restart empty, SIGKILL the joiner and the updater while they restore their checkpoints, restart them',
    consumingMs: Date.now() - t0,
    note: `${seen.join('; ')}; committing again: ${consuming}`,
  });
  phase = 'steady';
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
  const versionBefore = await deployedVersion();
  log('SIGKILL Redis');
  phase = 'Redis killed';
  await kill(redis);
  const redisKilledAt = Date.now();
  await sleep(2000);
  startRedis();
  await waitFor(() => redisAnswers(redisUrl), 'Redis again');
  await waitFor(async () => (await deployedVersion()) === versionBefore, `the deployment restored at version ${versionBefore}`, PATIENCE_MS, 100);
  const redisBack = Date.now();
  const joinerGroup = byName('feedback-joiner').group!;
  const beforeJoin = await committed(joinerGroup.id, joinerGroup.topics);
  await waitFor(async () => (await committed(joinerGroup.id, joinerGroup.topics)) > beforeJoin, 'the joiner to commit after Redis came back', PATIENCE_MS, 200);
  recoveries.push({
    fault: 'SIGKILL Redis, restart (empty) after 2 s: the deployment restored from the spec log',
    readyMs: redisBack - redisKilledAt,
    consumingMs: Date.now() - redisKilledAt,
    note: `consuming: the joiner commits again; backlog worked off before the kill: ${drained.join(', ')}`,
  });
  phase = 'steady';
  await sleep(8000);

  await wipeDuringRebuild(consumers);
  await sleep(8000);
  await killDuringRestore(byName('feedback-joiner'), byName('bandit-updater'), consumers);
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
  await producer.disconnect();

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
  const all = joined.map((j) => ({ ...(j.value as JoinedEvent), partition: j.partition, offset: String(j.offset) }));
  const recount = recountRewards(all).get(DEPLOYMENT) ?? {};
  const statsProblems = Object.entries(recount)
    .filter(([arm, want]) => statsNow[arm]?.count !== want.count || Math.abs((statsNow[arm]?.sum ?? 0) - want.sum) > 1e-6)
    .map(([arm, want]) => `${arm}: ${statsNow[arm]?.count ?? 0} in Redis, ${want.count} recounted`);
  for (const arm of Object.keys(statsNow)) if (!recount[arm]) statsProblems.push(`${arm}: in Redis, not in the recount`);

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
    [
      'statistics against a recount of the joined topic (rebuilt after the Redis restart)',
      statsProblems.length ? statsProblems.join('; ') : `equal (${Object.keys(recount).length} arms, ${all.length} events)`,
      statsProblems.length === 0,
    ],
    ['DLQ records', dlq.length, dlq.length === 0],
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
    `| fault | ready again (ms) | consuming again (ms) | note |`,
    `|---|---:|---:|---|`,
    ...recoveries.map((r) => `| ${r.fault} | ${r.readyMs ?? '–'} | ${r.consumingMs ?? '–'} | ${r.note ?? ''} |`),
    '',
    `${ok ? 'PASS' : 'FAIL'}: ${RUN}, ${((Date.now() - started) / 1000).toFixed(0)} s; logs in ${LOGS}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  if (dlq.length) process.stdout.write(`first DLQ record: ${JSON.stringify(dlq[0].value).slice(0, 500)}\n`);
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
