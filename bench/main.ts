/**
 * `npm run bench`: router overhead against baselines measured in the same run, on this
 * machine, against the real Kafka, Redis and demo model-server. Every figure is paired
 * with its baseline and reported as a ratio. See README "Benchmarks".
 */
import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { createHistogram } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { toInferInputs } from '@switchyard/demo-models';

// autocannon ships no types; the part of its programmatic API used here.
interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as Autocannon;

const HELP = `Usage: npm run bench -- [options]

Router overhead against a bare proxy, and strategy costs against 'single', each
measured in the same run on this machine with real Kafka, Redis and the demo
model-server. Results: a table on stdout, JSON and Markdown under .bench/.

Options:
  --duration <s>      measured seconds per saturation run (default 8)
  --rounds <n>        interleaved rounds of the saturation runs; a row is their mean (default 2)
  --warmup <s>        warm-up seconds before each run, not measured (default 2)
  --connections <n>   autocannon connections for saturation runs (default 32)
  --rate <n>          offered req/s of the fixed-rate runs (default 1000)
  --messages <n>      requests per Kafka-ingress run (default 5000)
  --only <list>       comma-separated run ids to do (default all):
                      direct,bare,durable,fast,canary,bandit,shadow,rate,kafka
  -h, --help          show this help

Environment: KAFKA_BROKERS, REDIS_URL (passed to the router). Each run uses its own
TOPIC_PREFIX and REDIS_PREFIX (bench-<time>.) and deletes its keys and topics at the end.
`;

const ROOT = resolve(__dirname, '..', '..');
const OUT = join(ROOT, '.bench');
const LOGS = join(OUT, 'logs');
const STAMP = new Date().toISOString().replace(/[:.]/g, '-');
const RUN_ID = `bench-${Date.now()}`;
const TOPIC_PREFIX = `${RUN_ID}.`;
const REDIS_PREFIX = `${RUN_ID}:`;
const ADMIN_KEY = `bench-admin-key-${Date.now()}`;
const started = performance.now();

const INPUTS = toInferInputs([0.2, 0.4, 0.6, 0.8]);
const BODY = JSON.stringify({ inputs: INPUTS });

// ---------- child processes ----------

interface Service {
  name: string;
  port: number;
  child: ChildProcess;
}
const children = new Set<ChildProcess>();

function log(message: string): void {
  const s = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
  process.stdout.write(`[bench ${s}s] ${message}\n`);
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => ok(port));
    });
  });
}

async function startService(name: string, entry: string, env: Record<string, string>): Promise<Service> {
  const port = await freePort();
  const out = openSync(join(LOGS, `${name}.log`), 'a');
  // BENCH_PROFILE=1: routers write a V8 CPU profile to .bench/profiles/ when they stop.
  const profile = process.env.BENCH_PROFILE === '1' && name.startsWith('router') ? ['--cpu-prof', `--cpu-prof-dir=${join(OUT, 'profiles')}`] : [];
  const child = spawn(process.execPath, [...profile, join(ROOT, entry)], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  children.add(child);
  child.once('exit', () => children.delete(child));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}); see .bench/logs/${name}.log`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`${name} not ready after 60 s; see .bench/logs/${name}.log`);
    await sleep(200);
  }
  log(`${name} ready on :${port} (pid ${child.pid})`);
  return { name, port, child };
}

async function stopService(service: Service): Promise<void> {
  const { child } = service;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(killer);
}

function killAll(signal: NodeJS.Signals): void {
  for (const child of children) child.kill(signal);
}

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

// ---------- memory ----------

/** Resets the kernel's peak-RSS counter of `pid` (Linux clear_refs 5); false when not allowed. */
function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

function peakRssMb(pid: number): number | undefined {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round(Number(match[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

// ---------- load ----------

interface Row {
  id: string;
  label: string;
  target: string;
  mode: 'saturation' | 'rate' | 'kafka';
  offered?: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  peakRssMb?: number;
  peakRssIsRunPeak: boolean;
  /** req/s of each round (saturation runs are repeated in interleaved rounds). */
  roundsRps?: number[];
  /** 1-minute load average at the end of the run (other work on the machine shows here). */
  load1?: number;
}

interface Options {
  rounds: number;
  duration: number;
  warmup: number;
  connections: number;
  rate: number;
  messages: number;
}

async function saturate(url: string, opts: Options, seconds: number): Promise<AutocannonResult> {
  return autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: BODY,
    connections: opts.connections,
    pipelining: 1,
    duration: seconds,
    timeout: 10,
  });
}

/**
 * Open-loop load at a fixed offered rate: requests are sent on schedule whatever the
 * answers do, and each latency is measured from its scheduled send time (no coordinated
 * omission), with nanosecond resolution. autocannon's histogram has 1 ms resolution,
 * too coarse for an "added p99 < 1 ms" goal, hence this small generator.
 */
async function offered(url: string, rate: number, seconds: number, connections: number) {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections, pipelining: 1, keepAliveTimeout: 30_000 });
  const histogram = createHistogram();
  let errors = 0;
  let done = 0;
  const inflight = new Set<Promise<void>>();
  const t0 = performance.now();
  const total = Math.round(rate * seconds);
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
    for (; sent < due; sent++) {
      const scheduled = t0 + (sent / rate) * 1000;
      const p = pool
        .request({ method: 'POST', path: target.pathname, headers: { 'content-type': 'application/json' }, body: BODY })
        .then(async (res) => {
          await res.body.text();
          if (res.statusCode !== 200) errors++;
        })
        .catch(() => {
          errors++;
        })
        .finally(() => {
          histogram.record(Math.max(1, Math.round((performance.now() - scheduled) * 1e6)));
          done++;
          inflight.delete(p);
        });
      inflight.add(p);
    }
    await sleep(1);
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - t0) / 1000;
  await pool.close();
  return { rps: done / elapsed, p50: histogram.percentile(50) / 1e6, p99: histogram.percentile(99) / 1e6, errors };
}

/** A fresh process gets one untimed warm-up (JIT, connection pools, first Kafka batches) before its first run. */
async function warmService(service: Service, path: string, opts: Options): Promise<void> {
  const seconds = Math.max(3, opts.warmup);
  log(`${service.name}: process warm-up ${seconds} s (not measured)`);
  await saturate(`http://127.0.0.1:${service.port}${path}`, opts, seconds);
}

async function measure(
  id: string,
  label: string,
  service: Service,
  path: string,
  opts: Options,
  mode: 'saturation' | 'rate' = 'saturation',
): Promise<Row> {
  const url = `http://127.0.0.1:${service.port}${path}`;
  const pid = service.child.pid!;
  log(`${id}: ${label} — warm-up ${opts.warmup} s`);
  if (opts.warmup > 0) await saturate(url, { ...opts }, opts.warmup);
  const reset = resetPeakRss(pid);
  const seconds = opts.duration;
  log(`${id}: ${label} — measuring ${seconds} s ${mode === 'rate' ? `at ${opts.rate} req/s offered` : `with ${opts.connections} connections`}`);
  let row: Row;
  if (mode === 'saturation') {
    const r = await saturate(url, opts, seconds);
    row = {
      id, label, target: service.name, mode,
      rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99,
      errors: r.errors + r.timeouts + r.non2xx, peakRssIsRunPeak: reset,
    };
  } else {
    const r = await offered(url, opts.rate, seconds, opts.connections);
    row = { id, label, target: service.name, mode, offered: opts.rate, ...r, peakRssIsRunPeak: reset };
  }
  row.peakRssMb = peakRssMb(pid);
  row.load1 = Math.round(os.loadavg()[0] * 100) / 100;
  log(`${id}: ${row.rps.toFixed(0)} req/s, p50 ${fmt(row.p50)} ms, p99 ${fmt(row.p99)} ms, errors ${row.errors}, peak RSS ${row.peakRssMb ?? '?'} MB`);
  return row;
}

/** The mean of a run's rounds; errors summed, peak RSS the highest. */
function combine(rounds: Row[]): Row {
  const mean = (f: (r: Row) => number) => rounds.reduce((a, r) => a + f(r), 0) / rounds.length;
  const rss = rounds.map((r) => r.peakRssMb).filter((v): v is number => v !== undefined);
  return {
    ...rounds[0],
    rps: mean((r) => r.rps),
    p50: mean((r) => r.p50),
    p99: mean((r) => r.p99),
    errors: rounds.reduce((a, r) => a + r.errors, 0),
    peakRssMb: rss.length ? Math.max(...rss) : undefined,
    peakRssIsRunPeak: rounds.every((r) => r.peakRssIsRunPeak),
    roundsRps: rounds.map((r) => r.rps),
    load1: Math.max(...rounds.map((r) => r.load1 ?? 0)),
  };
}

// ---------- Kafka ingress ----------

const brokers = () => (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

async function createTopics(topics: string[]): Promise<void> {
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({ brokers: brokers(), clientId: 'bench-admin', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: 6, replicationFactor: 1 })), waitForLeaders: true });
  await admin.disconnect();
}

/**
 * Produces `opts.messages` requests at once to `requestsTopic` and times until every answer
 * is read from `responsesTopic` (after 500 untimed ones, which also cover consumer-group joins).
 */
async function kafkaRun(id: string, label: string, service: Service, requestsTopic: string, responsesTopic: string, opts: Options): Promise<Row> {
  const { Kafka, logLevel, Partitioners } = await import('kafkajs');
  const kafka = new Kafka({ brokers: brokers(), clientId: `bench-driver-${id}`, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  const consumer = kafka.consumer({ groupId: `${RUN_ID}-driver-${id}`, allowAutoTopicCreation: false });
  const counts = new Map<string, number>();
  const sentAt = new Map<string, number>();
  const histogram = createHistogram();
  let errors = 0;
  let onAnswer: (() => void) | undefined;
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [responsesTopic], fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      const now = performance.now();
      for (const message of batch.messages) {
        const key = message.key?.toString() ?? '';
        const phase = key.split(':')[0];
        counts.set(phase, (counts.get(phase) ?? 0) + 1);
        const t = sentAt.get(key);
        if (t !== undefined) histogram.record(Math.max(1, Math.round((now - t) * 1e6)));
        if (message.value?.includes('"error"')) errors++;
      }
      onAnswer?.();
    },
  });
  const send = async (phase: string, count: number, timed: boolean) => {
    for (let i = 0; i < count; i += 500) {
      const messages = [];
      const now = performance.now();
      for (let j = i; j < Math.min(count, i + 500); j++) {
        const requestId = `${phase}:${j}`;
        if (timed) sentAt.set(requestId, now);
        messages.push({ key: requestId, value: JSON.stringify({ requestId, deployment: 'bench-single', inputs: INPUTS }) });
      }
      await producer.send({ topic: requestsTopic, messages });
    }
  };
  const waitFor = (phase: string, need: number, timeoutMs: number) =>
    new Promise<void>((ok, fail) => {
      const timer = setTimeout(() => {
        onAnswer = undefined;
        fail(new Error(`${id}: ${counts.get(phase) ?? 0} of ${need} answers after ${timeoutMs / 1000} s`));
      }, timeoutMs);
      onAnswer = () => {
        if ((counts.get(phase) ?? 0) < need) return;
        clearTimeout(timer);
        onAnswer = undefined;
        ok();
      };
      onAnswer();
    });
  try {
    log(`${id}: ${label} — warm-up 500 requests`);
    await Promise.all([send(`w${id}`, 500, false), waitFor(`w${id}`, 500, 90_000)]);
    const reset = resetPeakRss(service.child.pid!);
    const load = os.loadavg()[0];
    log(`${id}: ${label} — measuring ${opts.messages} requests`);
    const t0 = performance.now();
    errors = 0;
    await Promise.all([send(`m${id}`, opts.messages, true), waitFor(`m${id}`, opts.messages, 120_000)]);
    const elapsed = (performance.now() - t0) / 1000;
    const row: Row = {
      id, label, target: service.name, mode: 'kafka', offered: opts.messages,
      rps: opts.messages / elapsed, p50: histogram.percentile(50) / 1e6, p99: histogram.percentile(99) / 1e6,
      errors, peakRssMb: peakRssMb(service.child.pid!), peakRssIsRunPeak: reset,
      load1: Math.round(Math.max(load, os.loadavg()[0]) * 100) / 100,
    };
    log(`${id}: ${row.rps.toFixed(0)} req/s (${elapsed.toFixed(1)} s), p50 ${fmt(row.p50)} ms, p99 ${fmt(row.p99)} ms, errors ${row.errors}`);
    return row;
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
  }
}

// ---------- deployments ----------

async function putDeployment(router: Service, name: string, spec: unknown): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${router.port}/v1/deployments/${name}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
    body: JSON.stringify(spec),
  });
  if (!res.ok) throw new Error(`PUT ${name}: ${res.status} ${await res.text()}`);
}

function specs(modelUrl: string): Record<string, unknown> {
  const v = (name: string, model: string) => ({ name, url: modelUrl, model, protocol: 'v2', timeoutMs: 500 });
  const two = [v('v1', 'churn-v1'), v('v2', 'churn-v2')];
  return {
    'bench-single': { variants: [v('v1', 'churn-v1')], strategy: { type: 'single', variant: 'v1' } },
    'bench-canary': { variants: two, strategy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 10 } },
    'bench-bandit': { variants: two, strategy: { type: 'bandit', algorithm: 'thompson' } },
    'bench-shadow': { variants: two, strategy: { type: 'shadow', primary: 'v1', shadows: ['v2'] } },
  };
}

// ---------- cleanup of Redis keys and Kafka topics of this run ----------

async function cleanupData(): Promise<void> {
  try {
    const { default: Redis } = await import('ioredis');
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${REDIS_PREFIX}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) deleted += await redis.del(...keys);
    } while (cursor !== '0');
    await redis.quit();
    log(`deleted ${deleted} Redis keys under ${REDIS_PREFIX}`);
  } catch (error) {
    log(`could not delete Redis keys: ${(error as Error).message}`);
  }
  try {
    const { Kafka, logLevel } = await import('kafkajs');
    const kafka = new Kafka({ brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), clientId: 'bench', logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(TOPIC_PREFIX));
    if (topics.length) await admin.deleteTopics({ topics, timeout: 10_000 });
    await admin.disconnect();
    log(`deleted ${topics.length} Kafka topics under ${TOPIC_PREFIX}`);
  } catch (error) {
    log(`could not delete Kafka topics: ${(error as Error).message}`);
  }
}

// ---------- report ----------

const fmt = (n: number | undefined, digits = 2) => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits));

function machine() {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  return {
    cpu: /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    date: new Date().toISOString(),
  };
}

interface Ratio {
  name: string;
  value: number | undefined;
  goal: string;
  met: boolean | undefined;
}

function ratios(rows: Row[]): Ratio[] {
  const get = (id: string) => rows.find((r) => r.id === id);
  const div = (a?: number, b?: number) => (a === undefined || b === undefined || b === 0 ? undefined : a / b);
  const list: Ratio[] = [];
  const add = (name: string, value: number | undefined, goal: string, test: (v: number) => boolean) =>
    list.push({ name, value, goal, met: value === undefined ? undefined : test(value) });
  add('router durable / bare proxy, throughput', div(get('durable')?.rps, get('bare')?.rps), '≥ 0.70', (v) => v >= 0.7);
  add('router fast / bare proxy, throughput', div(get('fast')?.rps, get('bare')?.rps), '≥ 0.85', (v) => v >= 0.85);
  add('router fast / router durable, throughput', div(get('fast')?.rps, get('durable')?.rps), '(info)', () => true);
  add('canary 10% / single, throughput', div(get('canary')?.rps, get('durable')?.rps), '≥ 0.95', (v) => v >= 0.95);
  add('bandit thompson / single, throughput', div(get('bandit')?.rps, get('durable')?.rps), '≥ 0.95', (v) => v >= 0.95);
  add('shadow / single, primary p99', div(get('shadow')?.p99, get('durable')?.p99), '≤ 1.10', (v) => v <= 1.1);
  add('Kafka ingress: router / bare kafkajs loop, throughput', div(get('kafka-router')?.rps, get('kafka-bare')?.rps), '(info)', () => true);
  const rb = get('rate-bare');
  const rr = get('rate-durable');
  add(`added p50 at ${rb?.offered ?? '?'} req/s, ms (router − bare)`, rr && rb ? rr.p50 - rb.p50 : undefined, '(info)', () => true);
  add(`added p99 at ${rb?.offered ?? '?'} req/s, ms (router − bare)`, rr && rb ? rr.p99 - rb.p99 : undefined, '< 1 ms', (v) => v < 1);
  return list;
}

function markdown(rows: Row[], rs: Ratio[], info: ReturnType<typeof machine>, opts: Options): string {
  const lines = [
    `Machine: ${info.cpu}, ${info.cores} cores, ${info.memoryGb} GB, ${info.os}, Node ${info.node}; ${info.date}.`,
    `Saturation runs: autocannon, ${opts.connections} connections, ${opts.warmup} s warm-up then ${opts.duration} s measured, ${opts.rounds} interleaved round(s); each row is the mean of its rounds (req/s of each round in brackets).`,
    `Kafka runs: ${opts.messages} requests produced at once to the requests topic (after 500 to warm up); req/s = requests / time until the last answer is read; p50/p99 are per-request round trips (queueing included).`,
    `Fixed-rate runs: open-loop ${opts.rate} req/s for ${opts.duration} s, latency from scheduled send time.`,
    '',
    '| run | target | mode | req/s | p50 ms | p99 ms | errors | peak RSS MB | load avg |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.id}: ${r.label} | ${r.target} | ${r.mode === 'rate' ? `${r.offered}/s offered` : r.mode === 'kafka' ? `Kafka, ${r.offered} msgs` : 'saturation'} | ${r.rps.toFixed(0)}${r.roundsRps && r.roundsRps.length > 1 ? ` (${r.roundsRps.map((x) => x.toFixed(0)).join(', ')})` : ''} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.errors} | ${r.peakRssMb ?? '–'}${r.peakRssIsRunPeak ? '' : '*'} | ${fmt(r.load1)} |`,
    ),
    '',
    '| ratio | value | goal | met |',
    '|---|---:|---|---|',
    ...rs.map((r) => `| ${r.name} | ${fmt(r.value)} | ${r.goal} | ${r.goal === '(info)' ? '' : r.met === undefined ? 'not measured' : r.met ? 'yes' : 'no'} |`),
  ];
  if (rows.some((r) => !r.peakRssIsRunPeak)) lines.push('', '\\* peak since process start (the per-run peak could not be reset).');
  return lines.join('\n') + '\n';
}

// ---------- main ----------

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '8' },
      rounds: { type: 'string', default: '2' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '32' },
      rate: { type: 'string', default: '1000' },
      messages: { type: 'string', default: '5000' },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const opts: Options = {
    rounds: Number(values.rounds),
    duration: Number(values.duration),
    warmup: Number(values.warmup),
    connections: Number(values.connections),
    rate: Number(values.rate),
    messages: Number(values.messages),
  };
  for (const [k, v] of Object.entries(opts)) {
    if (!Number.isFinite(v) || v < (k === 'warmup' ? 0 : 1)) throw new Error(`--${k} must be a positive number`);
  }
  const only = new Set((values.only ?? 'direct,bare,durable,fast,canary,bandit,shadow,rate,kafka').split(',').map((s) => s.trim()));
  mkdirSync(LOGS, { recursive: true });
  const info = machine();
  log(`${info.cpu}, ${info.cores} cores, Node ${info.node}; prefixes ${TOPIC_PREFIX} / ${REDIS_PREFIX}; logs in .bench/logs/`);

  const rows: Row[] = [];
  const model = await startService('model-server', 'dist/apps/model-server/src/main.js', {});
  const modelUrl = `http://127.0.0.1:${model.port}`;
  const routerEnv = (mode: 'durable' | 'fast') => ({
    PUBLISH_MODE: mode,
    KAFKA_INGRESS: 'false',
    TOPIC_PREFIX,
    REDIS_PREFIX,
    ADMIN_API_KEY: ADMIN_KEY,
    INSTANCE_ID: `${RUN_ID}-${mode}`,
  });
  try {
    // Every process under test runs from the start (idle ones cost next to nothing), so the
    // saturation runs can be interleaved: bare, durable, fast, canary, bandit, shadow, then
    // again. Drift and other work on the machine then hit baseline and router alike.
    await warmService(model, '/v2/models/churn-v1/infer', opts);
    const needBare = only.has('bare') || only.has('rate');
    const needDurable = ['durable', 'canary', 'bandit', 'shadow', 'rate'].some((id) => only.has(id));
    const bare = needBare ? await startService('bare-proxy', 'dist/bench/bare-proxy.js', { MODEL_URL: modelUrl, MODEL: 'churn-v1' }) : undefined;
    const durable = needDurable ? await startService('router-durable', 'dist/apps/router/src/main.js', routerEnv('durable')) : undefined;
    const fast = only.has('fast') ? await startService('router-fast', 'dist/apps/router/src/main.js', routerEnv('fast')) : undefined;
    const admin = durable ?? fast;
    if (admin) for (const [name, spec] of Object.entries(specs(modelUrl))) await putDeployment(admin, name, spec);
    const predict = (name: string) => `/v1/deployments/${name}/predict`;
    if (bare) await warmService(bare, '/', opts);
    if (durable) await warmService(durable, predict('bench-single'), opts);
    if (fast) await warmService(fast, predict('bench-single'), opts);

    const plan: Array<{ id: string; label: string; service?: Service; path: string }> = [
      { id: 'direct', label: 'model-server directly (reference)', service: model, path: '/v2/models/churn-v1/infer' },
      { id: 'bare', label: 'bare proxy (baseline)', service: bare, path: '/' },
      { id: 'durable', label: 'router single, PUBLISH_MODE=durable', service: durable, path: predict('bench-single') },
      { id: 'fast', label: 'router single, PUBLISH_MODE=fast', service: fast, path: predict('bench-single') },
      { id: 'canary', label: 'router canary 10%, durable', service: durable, path: predict('bench-canary') },
      { id: 'bandit', label: 'router bandit thompson, durable', service: durable, path: predict('bench-bandit') },
      { id: 'shadow', label: 'router shadow (1 shadow), durable', service: durable, path: predict('bench-shadow') },
    ].filter((p) => only.has(p.id) && p.service);
    const samples = new Map<string, Row[]>();
    for (let round = 1; round <= opts.rounds; round++) {
      log(`round ${round} of ${opts.rounds}`);
      for (const p of plan) {
        if (p.id === 'direct' && round > 1) continue; // a reference, not a goal: one round is enough
        const row = await measure(p.id, p.label, p.service!, p.path, opts);
        samples.set(p.id, [...(samples.get(p.id) ?? []), row]);
      }
    }
    for (const p of plan) rows.push(combine(samples.get(p.id)!));

    if (only.has('rate') && bare && durable) {
      rows.push(await measure('rate-bare', 'bare proxy, fixed rate', bare, '/', opts, 'rate'));
      rows.push(await measure('rate-durable', 'router single durable, fixed rate', durable, predict('bench-single'), opts, 'rate'));
    }

    if (only.has('kafka')) {
      for (const service of [bare, durable, fast]) if (service) await stopService(service);
      const loopRequests = `${TOPIC_PREFIX}bare-requests`;
      const loopResponses = `${TOPIC_PREFIX}bare-responses`;
      await createTopics([loopRequests, loopResponses]);
      const loop = await startService('bare-kafka-loop', 'dist/bench/bare-kafka-loop.js', {
        MODEL_URL: modelUrl, REQUESTS_TOPIC: loopRequests, RESPONSES_TOPIC: loopResponses, GROUP: `${RUN_ID}-bare-loop`,
      });
      rows.push(await kafkaRun('kafka-bare', 'bare kafkajs loop (baseline)', loop, loopRequests, loopResponses, opts));
      await stopService(loop);
      const ingress = await startService('router-ingress', 'dist/apps/router/src/main.js', {
        ...routerEnv('durable'), KAFKA_INGRESS: 'true', INGRESS_GROUP: `${RUN_ID}-ingress`, INSTANCE_ID: `${RUN_ID}-ingress`,
      });
      await putDeployment(ingress, 'bench-single', specs(modelUrl)['bench-single']);
      rows.push(await kafkaRun('kafka-router', 'router Kafka ingress, single durable', ingress, `${TOPIC_PREFIX}requests`, `${TOPIC_PREFIX}responses`, opts));
      await stopService(ingress);
    }
  } finally {
    await Promise.all([...children].map((child) => stopService({ name: '', port: 0, child })));
    await cleanupData();
  }

  const rs = ratios(rows);
  const md = markdown(rows, rs, info, opts);
  const jsonPath = join(OUT, `bench-${STAMP}.json`);
  const mdPath = join(OUT, `bench-${STAMP}.md`);
  writeFileSync(jsonPath, JSON.stringify({ machine: info, options: opts, runId: RUN_ID, rows, ratios: rs }, null, 2) + '\n');
  writeFileSync(mdPath, md);
  writeFileSync(join(OUT, 'latest.md'), md);
  writeFileSync(join(OUT, 'latest.json'), JSON.stringify({ machine: info, options: opts, runId: RUN_ID, rows, ratios: rs }, null, 2) + '\n');
  process.stdout.write(`\n${md}\n`);
  log(`done; wrote ${jsonPath.replace(ROOT + '/', '')} and ${mdPath.replace(ROOT + '/', '')}`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n[bench] ${signal}: stopping child processes\n`);
    killAll('SIGTERM');
    setTimeout(() => {
      killAll('SIGKILL');
      process.exit(130);
    }, 8000);
    // Once every child is gone, delete this run's Redis keys and topics, then exit.
    const poll = setInterval(() => {
      if (children.size > 0) return;
      clearInterval(poll);
      void cleanupData().finally(() => process.exit(130));
    }, 100);
  });
}
process.on('exit', () => killAll('SIGKILL'));

main().catch((error) => {
  process.stderr.write(`[bench] failed: ${(error as Error).stack ?? error}\n`);
  killAll('SIGTERM');
  process.exitCode = 1;
});
