/**
 * What every part of `npm run bench` shares: the run's prefixes, progress lines, child
 * processes (each service under test runs in its own process, never in the load
 * generator's event loop), peak-RSS readings, topic creation, cleanup, and the row and
 * ratio shapes of the report.
 */
import { randomBytes } from 'node:crypto';
import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..');
export const OUT = join(ROOT, '.bench');
export const LOGS = join(OUT, 'logs');
export const RUN_ID = `bench-${Date.now()}`;
export const TOPIC_PREFIX = `${RUN_ID}.`;
export const REDIS_PREFIX = `${RUN_ID}:`;
const started = performance.now();

export interface Options {
  rounds: number;
  duration: number;
  warmup: number;
  connections: number;
  rates: number[];
  messages: number;
  /** Prediction/feedback pairs per event-pipeline run. */
  events: number;
  /** Requests per real-loop run of the regret bench (the reference uses the same stream). */
  requests: number;
  /** Offered req/s of the regret bench's real loop. */
  regretRate: number;
  /** Real-loop runs of the regret bench. */
  regretRuns: number;
  /** The regret benches' variants' `timeoutMs`: what a model call may take on a loaded machine before the request fails the run. */
  regretTimeoutMs: number;
}

/** One measured run. `rps` is requests (or events, for the pipeline) per second. */
export interface Row {
  id: string;
  label: string;
  target: string;
  mode: 'saturation' | 'rate' | 'kafka' | 'pipeline';
  offered?: number;
  rps: number;
  p50?: number;
  p99?: number;
  errors: number;
  peakRssMb?: number;
  peakRssIsRunPeak: boolean;
  /** CPU time (user + system) the target process spent per request (or event), in µs: its cost, whatever else competes for the cores. */
  cpuUs?: number;
  /** The same for the local Kafka broker (scripts/infra.sh), which shares the cores: what publishing costs it. */
  brokerCpuUs?: number;
  /** Peak RSS of the other processes under test in this run (e.g. the updater beside the joiner). */
  otherPeakRssMb?: Record<string, number | undefined>;
  /** rps of each round (saturation runs are repeated in interleaved rounds). */
  roundsRps?: number[];
  /** 1-minute load average at the end of the run (other work on the machine shows here). */
  load1?: number;
}

export interface Ratio {
  name: string;
  value: number | undefined;
  goal: string;
  met: boolean | undefined;
}

/** What each part of the bench returns: rows for the main table, ratios, and its own notes or tables. */
export interface PartResult {
  rows: Row[];
  ratios: Ratio[];
  sections?: string[];
}

/** A run repeated in rounds, as one row: means of rates, latencies and CPU, errors summed, the highest peaks and load. */
export function combineRounds(rounds: Row[]): Row {
  const known = (f: (r: Row) => number | undefined) => rounds.map(f).filter((v): v is number => v !== undefined && Number.isFinite(v));
  const mean = (f: (r: Row) => number | undefined) => {
    const values = known(f);
    return values.length ? values.reduce((a, v) => a + v, 0) / values.length : undefined;
  };
  const max = (f: (r: Row) => number | undefined) => {
    const values = known(f);
    return values.length ? Math.max(...values) : undefined;
  };
  const others = [...new Set(rounds.flatMap((r) => Object.keys(r.otherPeakRssMb ?? {})))];
  return {
    ...rounds[0],
    rps: mean((r) => r.rps)!,
    p50: mean((r) => r.p50),
    p99: mean((r) => r.p99),
    cpuUs: mean((r) => r.cpuUs),
    brokerCpuUs: mean((r) => r.brokerCpuUs),
    errors: rounds.reduce((a, r) => a + r.errors, 0),
    peakRssMb: max((r) => r.peakRssMb),
    otherPeakRssMb: others.length ? Object.fromEntries(others.map((name) => [name, max((r) => r.otherPeakRssMb?.[name])])) : undefined,
    peakRssIsRunPeak: rounds.every((r) => r.peakRssIsRunPeak),
    roundsRps: rounds.map((r) => r.rps),
    load1: max((r) => r.load1),
  };
}

/** A JSON call to a service under test; a non-2xx answer throws with its body. */
/** The admin key of every router the bench starts (they inherit the environment); `json()` sends it. */
process.env.ADMIN_API_KEY ??= `bench-admin-${randomBytes(12).toString('hex')}`;

export async function json(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<any> {
  const auth = { authorization: `Bearer ${process.env.ADMIN_API_KEY!.split(',')[0]}`, ...headers };
  const res = await fetch(url, {
    method,
    headers: body === undefined ? auth : { ...auth, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

export function ratio(name: string, value: number | undefined, goal: string, test: (v: number) => boolean = () => true): Ratio {
  return { name, value, goal, met: value === undefined || !Number.isFinite(value) ? undefined : test(value) };
}

export const div = (a?: number, b?: number) => (a === undefined || b === undefined || b === 0 ? undefined : a / b);
export const fmt = (n: number | undefined, digits = 2) => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits));
export const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));
export const brokers = () => (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
export const load1 = () => Math.round(os.loadavg()[0] * 100) / 100;

export function log(message: string): void {
  const s = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
  process.stdout.write(`[bench ${s}s] ${message}\n`);
}

// ---------- child processes ----------

export interface Service {
  name: string;
  port: number;
  child: ChildProcess;
}
const children = new Set<ChildProcess>();

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => ok(port));
    });
  });
}

/** Starts `entry` (a path under dist/) with `env` on a free PORT and waits for its /readyz. */
export async function startService(name: string, entry: string, env: Record<string, string>): Promise<Service> {
  // BENCH_PROFILE=<name prefix>: that service writes a V8 CPU profile to .bench/profiles/ when it stops.
  const profiled = process.env.BENCH_PROFILE && name.startsWith(process.env.BENCH_PROFILE === '1' ? 'router' : process.env.BENCH_PROFILE);
  const profile = profiled ? ['--cpu-prof', `--cpu-prof-dir=${join(OUT, 'profiles')}`] : [];
  return startProcess(name, () => [process.execPath, ...profile, join(ROOT, entry)], env);
}

/**
 * Starts the command `argv(port)` gives (a peer: nginx, a JVM) with `env` and PORT on a
 * free port, and waits until http://127.0.0.1:PORT/readyz answers 2xx.
 */
export async function startProcess(name: string, argv: (port: number) => string[], env: Record<string, string>): Promise<Service> {
  mkdirSync(LOGS, { recursive: true });
  const port = await freePort();
  const out = openSync(join(LOGS, `${name}.log`), 'a');
  const [command, ...args] = argv(port);
  const child = spawn(command, args, {
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

export async function stopService(service: Service): Promise<void> {
  const { child } = service;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(killer);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((child) => stopService({ name: '', port: 0, child })));
}

export function killAll(signal: NodeJS.Signals): void {
  for (const child of children) child.kill(signal);
}

export const childCount = () => children.size;

// ---------- memory ----------

/** Resets the kernel's peak-RSS counter of `pid` (Linux clear_refs 5); false when not allowed. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export function peakRssMb(pid: number): number | undefined {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round(Number(match[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) `pid` has used so far; undefined where /proc is missing. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    // Fields after the parenthesised command name: state is [0], utime [11], stime [12].
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds of `pid` and all its descendants (nginx's master and workers; a Node or JVM
 * service is one process): a peer made of several processes is charged for all of them.
 */
export function treeCpuSeconds(pid: number): number | undefined {
  const own = cpuSeconds(pid);
  if (own === undefined) return undefined;
  return childPids(pid).reduce((sum, child) => sum + (treeCpuSeconds(child) ?? 0), own);
}

function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/**
 * Pid of the local Kafka broker: the one scripts/infra.sh of this checkout started, else
 * the only `kafka.Kafka` process on the machine (another checkout's); undefined otherwise.
 */
export function brokerPid(): number | undefined {
  try {
    const pid = Number(readFileSync(join(ROOT, '.infra', 'kafka', 'kafka.pid'), 'utf8').trim());
    if (cpuSeconds(pid) !== undefined) return pid;
  } catch {
    /* not started from this checkout */
  }
  const found = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry) && processArgs(Number(entry)).includes('kafka.Kafka'));
  return found.length === 1 ? Number(found[0]) : undefined;
}

function processArgs(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** µs of CPU per unit of work between two `cpuSeconds` readings. */
export const cpuPer = (before: number | undefined, after: number | undefined, units: number) =>
  before === undefined || after === undefined || units <= 0 ? undefined : ((after - before) * 1e6) / units;

// ---------- Kafka and Redis data of this run ----------

export async function createTopics(topics: string[], numPartitions = 6): Promise<void> {
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({ brokers: brokers(), clientId: 'bench-admin', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions, replicationFactor: 1 })), waitForLeaders: true });
  await admin.disconnect();
}

/** Deletes every Redis key and Kafka topic this run created (its prefixes). */
export async function cleanupData(): Promise<void> {
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
    const admin = new Kafka({ brokers: brokers(), clientId: 'bench', logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(TOPIC_PREFIX));
    if (topics.length) await admin.deleteTopics({ topics, timeout: 10_000 });
    await admin.disconnect();
    log(`deleted ${topics.length} Kafka topics under ${TOPIC_PREFIX}`);
  } catch (error) {
    log(`could not delete Kafka topics: ${(error as Error).message}`);
  }
}
