/**
 * Router overhead: the router against a bare proxy (saturation and fixed offered rates),
 * publishing modes against publishing off, strategies against `single`, and the Kafka
 * ingress against a bare kafkajs loop; each pair measured in the same run.
 */
import { createHistogram } from 'node:perf_hooks';
import { Pool } from 'undici';
import { toInferInputs } from '@switchyard/demo-models';
import {
  Options,
  PartResult,
  RUN_ID,
  REDIS_PREFIX,
  Row,
  Service,
  TOPIC_PREFIX,
  brokerPid,
  brokers,
  combineRounds,
  cpuPer,
  cpuSeconds,
  createTopics,
  treeCpuSeconds,
  json,
  div,
  fmt,
  load1,
  log,
  peakRssMb,
  ratio,
  resetPeakRss,
  sleep,
  startService,
  stopService,
} from './harness';
import { NGINX_UNIT_HEADER, startNginx } from './nginx';

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

const INPUTS = toInferInputs([0.2, 0.4, 0.6, 0.8]);
const BODY = JSON.stringify({ inputs: INPUTS });

/**
 * What a run sends: the same body every time, or (canary runs) a unit key of its own per
 * request, so the split is by unit: in the router's body, in nginx's header. autocannon's
 * `[<id>]` replacement is not used: it assumes ids of one length in Content-Length.
 */
type Shape = 'plain' | 'router-unit' | 'nginx-unit' | 'tensor-json' | 'tensor-binary';
let unit = 0;
const ROUTER_UNIT_BODY = JSON.stringify({ inputs: INPUTS, unitKey: '' }).slice(0, -2);

/**
 * The large-tensor runs' request: one FP32 tensor of 1 MiB (262 144 elements of
 * pixel-like values, 0-250, so its JSON is about as large, ≈ 1 MB), as OIP JSON and in
 * Triton's binary extension's framing; built on first use.
 */
const TENSOR_ELEMENTS = 256 * 1024;
let tensorBodies: { json: string; binary: Buffer; headerLength: number } | undefined;
function tensors(): NonNullable<typeof tensorBodies> {
  if (tensorBodies) return tensorBodies;
  const values = Array.from({ length: TENSOR_ELEMENTS }, (_, i) => i % 251);
  const tensor = { name: 'image', datatype: 'FP32', shape: [1, TENSOR_ELEMENTS] };
  const bytes = Buffer.from(new Float32Array(values).buffer);
  const header = Buffer.from(JSON.stringify({ inputs: [{ ...tensor, parameters: { binary_data_size: bytes.length } }] }));
  tensorBodies = { json: JSON.stringify({ inputs: [{ ...tensor, data: values }] }), binary: Buffer.concat([header, bytes]), headerLength: header.length };
  return tensorBodies;
}
/**
 * Connections of the large-tensor runs: 128 bodies of 1 MB in flight would measure
 * memory and queueing, not the router (a JSON one costs the router tens of ms of CPU).
 */
const TENSOR_CONNECTIONS = 32;

function requestOf(shape: Shape): Record<string, unknown> {
  if (shape === 'tensor-json') return { body: tensors().json, connections: TENSOR_CONNECTIONS };
  if (shape === 'tensor-binary') {
    const { binary, headerLength } = tensors();
    const headers = { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) };
    return { body: binary, headers, connections: TENSOR_CONNECTIONS };
  }
  if (shape === 'router-unit') return { requests: [{ setupRequest: (req: object) => ({ ...req, body: `${ROUTER_UNIT_BODY}u${unit++}"}` }) }] };
  if (shape === 'nginx-unit')
    return { requests: [{ setupRequest: (req: { headers: object }) => ({ ...req, headers: { ...req.headers, [NGINX_UNIT_HEADER]: `u${unit++}` } }) }] };
  return {};
}

async function saturate(url: string, opts: Options, seconds: number, shape: Shape = 'plain'): Promise<AutocannonResult> {
  return autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: BODY,
    connections: opts.connections,
    pipelining: 1,
    duration: seconds,
    timeout: 10,
    ...requestOf(shape),
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

/** CPU seconds per second `pid` uses while the target is idle, over 2 s. */
async function idleCpuRate(pid: number): Promise<number | undefined> {
  const before = cpuSeconds(pid);
  const from = performance.now();
  await sleep(2000);
  const after = cpuSeconds(pid);
  return before === undefined || after === undefined ? undefined : ((after - before) * 1000) / (performance.now() - from);
}

/** A fresh process gets one untimed warm-up (JIT, connection pools, first Kafka batches) before its first run. */
async function warmService(service: Service, path: string, opts: Options): Promise<void> {
  const seconds = Math.max(3, opts.warmup);
  log(`${service.name}: process warm-up ${seconds} s (not measured)`);
  await saturate(`http://127.0.0.1:${service.port}${path}`, opts, seconds);
}

async function measure(id: string, label: string, service: Service, path: string, opts: Options, rate?: number, shape: Shape = 'plain'): Promise<Row> {
  const mode = rate === undefined ? 'saturation' : 'rate';
  const url = `http://127.0.0.1:${service.port}${path}`;
  const pid = service.child.pid!;
  const broker = brokerPid();
  const brokerIdle = broker && (await idleCpuRate(broker));
  log(`${id}: ${label} — warm-up ${opts.warmup} s${rate === undefined ? '' : ` at ${rate} req/s`}`);
  // A fixed-rate run warms up at its own rate: right after a saturation warm-up a router
  // was still working off what saturation left (events, garbage) in the first second of
  // the measured run, and most of the worst 1 % fell there (issue #18).
  if (opts.warmup > 0) await (rate === undefined ? saturate(url, { ...opts }, opts.warmup, shape) : offered(url, rate, opts.warmup, opts.connections));
  const reset = resetPeakRss(pid);
  const cpuBefore = treeCpuSeconds(pid);
  const brokerBefore = broker && cpuSeconds(broker);
  const measuredFrom = performance.now();
  const seconds = opts.duration;
  const connections = (requestOf(shape).connections as number | undefined) ?? opts.connections;
  log(`${id}: ${label} — measuring ${seconds} s ${rate !== undefined ? `at ${rate} req/s offered` : `with ${connections} connections`}`);
  let row: Row;
  if (rate === undefined) {
    const r = await saturate(url, opts, seconds, shape);
    row = {
      id,
      label,
      target: service.name,
      mode,
      rps: r.requests.average,
      p50: r.latency.p50,
      p99: r.latency.p99,
      errors: r.errors + r.timeouts + r.non2xx,
      peakRssIsRunPeak: reset,
    };
  } else {
    const r = await offered(url, rate, seconds, opts.connections);
    row = { id, label, target: service.name, mode, offered: rate, ...r, peakRssIsRunPeak: reset };
  }
  row.peakRssMb = peakRssMb(pid);
  row.cpuUs = cpuPer(cpuBefore, treeCpuSeconds(pid), row.rps * seconds);
  const brokerAfter = broker && cpuSeconds(broker);
  // The broker's own idle work (the KRaft controller, the router's consumers polling) is
  // not the events' cost: a bare proxy, which sends none, showed 40 µs per request of it.
  const brokerIdleSeconds = brokerIdle === undefined ? 0 : (brokerIdle * (performance.now() - measuredFrom)) / 1000;
  row.brokerCpuUs =
    brokerBefore === undefined || brokerAfter === undefined ? undefined : cpuPer(brokerBefore + brokerIdleSeconds, brokerAfter, row.rps * seconds);
  row.load1 = load1();
  log(
    `${id}: ${row.rps.toFixed(0)} req/s, p50 ${fmt(row.p50)} ms, p99 ${fmt(row.p99)} ms, errors ${row.errors}, CPU ${fmt(row.cpuUs, 0)} µs/req (Kafka broker ${fmt(row.brokerCpuUs, 0)}), peak RSS ${row.peakRssMb ?? '?'} MB`,
  );
  return row;
}

/**
 * Produces `opts.messages` requests at once to `requestsTopic` and times until every answer
 * is read from `responsesTopic` (after 500 untimed ones, which also cover consumer-group joins).
 */
export async function kafkaRun(id: string, label: string, service: Service, requestsTopic: string, responsesTopic: string, opts: Options): Promise<Row> {
  const { Kafka, logLevel, Partitioners } = await import('kafkajs');
  const kafka = new Kafka({ brokers: brokers(), clientId: `bench-driver-${id}`, logLevel: logLevel.NOTHING });
  // Idempotent: a retried request never doubles the measured requests.
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 5,
  });
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
    const cpuBefore = cpuSeconds(service.child.pid!);
    const loadBefore = load1();
    log(`${id}: ${label} — measuring ${opts.messages} requests`);
    const t0 = performance.now();
    errors = 0;
    await Promise.all([send(`m${id}`, opts.messages, true), waitFor(`m${id}`, opts.messages, 120_000)]);
    const elapsed = (performance.now() - t0) / 1000;
    const row: Row = {
      id,
      label,
      target: service.name,
      mode: 'kafka',
      offered: opts.messages,
      rps: opts.messages / elapsed,
      p50: histogram.percentile(50) / 1e6,
      p99: histogram.percentile(99) / 1e6,
      errors,
      peakRssMb: peakRssMb(service.child.pid!),
      peakRssIsRunPeak: reset,
      cpuUs: cpuPer(cpuBefore, cpuSeconds(service.child.pid!), opts.messages),
      load1: Math.max(loadBefore, load1()),
    };
    log(`${id}: ${row.rps.toFixed(0)} req/s (${elapsed.toFixed(1)} s), p50 ${fmt(row.p50)} ms, p99 ${fmt(row.p99)} ms, errors ${row.errors}`);
    return row;
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
  }
}

// ---------- deployments ----------

export async function putDeployment(router: Service, name: string, spec: unknown): Promise<void> {
  await json('PUT', `http://127.0.0.1:${router.port}/v1/deployments/${name}`, spec);
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

// ---------- the part ----------

export const ROUTER_RUNS = [
  'direct',
  'bare',
  'bare-fastify',
  'off',
  'durable',
  'fast',
  'canary',
  'nginx-canary',
  'bandit',
  'shadow',
  'nginx-shadow',
  'rate',
  'evaluate',
  'kafka',
  'tensor-json',
  'tensor-binary',
];
const TENSOR_RUNS = ['tensor-json', 'tensor-binary'];

export async function runRouterBench(opts: Options, only: Set<string>, modelUrl: string, model: Service): Promise<PartResult> {
  const rows: Row[] = [];
  const routerEnv = (mode: 'durable' | 'fast' | 'off') => ({
    PUBLISH_MODE: mode,
    KAFKA_INGRESS: 'false',
    TOPIC_PREFIX,
    REDIS_PREFIX,
    INSTANCE_ID: `${RUN_ID}-${mode}`,
  });
  // Every process under test runs from the start (idle ones cost next to nothing), so the
  // saturation runs can be interleaved: bare, off, durable, fast, canary, bandit, shadow,
  // then again. Drift and other work on the machine then hit baseline and router alike.
  await warmService(model, '/v2/models/churn-v1/infer', opts);
  const needBare = only.has('bare') || only.has('rate');
  const needDurable = ['durable', 'canary', 'bandit', 'shadow', 'rate', 'evaluate', ...TENSOR_RUNS].some((id) => only.has(id));
  const tensorModel = TENSOR_RUNS.some((id) => only.has(id)) ? await startService('tensor-model', 'dist/bench/tensor-model.js', {}) : undefined;
  const bare = needBare ? await startService('bare-proxy', 'dist/bench/bare-proxy.js', { MODEL_URL: modelUrl, MODEL: 'churn-v1' }) : undefined;
  const bareFastify = only.has('bare-fastify')
    ? await startService('bare-fastify', 'dist/bench/bare-fastify.js', { MODEL_URL: modelUrl, MODEL: 'churn-v1' })
    : undefined;
  const durable = needDurable ? await startService('router-durable', 'dist/apps/router/src/main.js', routerEnv('durable')) : undefined;
  const fast = only.has('fast') ? await startService('router-fast', 'dist/apps/router/src/main.js', routerEnv('fast')) : undefined;
  const off = only.has('off') ? await startService('router-off', 'dist/apps/router/src/main.js', routerEnv('off')) : undefined;
  const nginx = only.has('nginx-canary') || only.has('nginx-shadow') ? await startNginx(modelUrl) : undefined;
  const admin = durable ?? fast ?? off;
  if (admin) for (const [name, spec] of Object.entries(specs(modelUrl))) await putDeployment(admin, name, spec);
  if (durable && tensorModel) {
    await putDeployment(durable, 'bench-tensor', {
      variants: [{ name: 't1', url: `http://127.0.0.1:${tensorModel.port}`, model: 'tensor', protocol: 'v2', timeoutMs: 5000 }],
      strategy: { type: 'single', variant: 't1' },
    });
    const seconds = Math.max(3, opts.warmup);
    log(`tensor-model and router-durable: process warm-up ${seconds} s with 1 MB tensors (not measured)`);
    for (const shape of ['tensor-json', 'tensor-binary'] as const) {
      await saturate(`http://127.0.0.1:${tensorModel.port}/v2/models/tensor/infer`, opts, seconds, shape);
      await saturate(`http://127.0.0.1:${durable.port}/v2/models/bench-tensor/infer`, opts, seconds, shape);
    }
  }
  const predict = (name: string) => `/v1/deployments/${name}/predict`;
  for (const baseline of [bare, bareFastify]) if (baseline) await warmService(baseline, '/', opts);
  if (nginx) await warmService(nginx, '/canary', opts);
  for (const router of [durable, fast, off]) if (router) await warmService(router, predict('bench-single'), opts);

  const tensorPath = '/v2/models/tensor/infer';
  const routerTensorPath = '/v2/models/bench-tensor/infer';
  // `part`: the --only run a row belongs to, when not its own id (a reference measured with it).
  type Planned = { id: string; label: string; service?: Service; path: string; shape?: Shape; part?: string };
  const plan = (<Planned[]>[
    { id: 'direct', label: 'model-server directly (reference)', service: model, path: '/v2/models/churn-v1/infer' },
    { id: 'bare', label: 'bare proxy, node http (baseline)', service: bare, path: '/' },
    { id: 'bare-fastify', label: 'bare proxy, Fastify (baseline)', service: bareFastify, path: '/' },
    { id: 'off', label: 'router single, PUBLISH_MODE=off (baseline of publishing)', service: off, path: predict('bench-single') },
    { id: 'durable', label: 'router single, PUBLISH_MODE=durable', service: durable, path: predict('bench-single') },
    { id: 'fast', label: 'router single, PUBLISH_MODE=fast', service: fast, path: predict('bench-single') },
    { id: 'canary', label: 'router canary 10% by unit key, durable', service: durable, path: predict('bench-canary'), shape: 'router-unit' as const },
    { id: 'nginx-canary', label: 'nginx split_clients 10% by unit key (peer)', service: nginx, path: '/canary', shape: 'nginx-unit' as const },
    { id: 'bandit', label: 'router bandit thompson, durable', service: durable, path: predict('bench-bandit') },
    { id: 'shadow', label: 'router shadow (1 shadow), durable', service: durable, path: predict('bench-shadow') },
    { id: 'nginx-shadow', label: 'nginx mirror to 1 shadow (peer)', service: nginx, path: '/shadow' },
    ...(['json', 'binary'] as const).flatMap((as) => [
      {
        id: `tensor-direct-${as}`,
        label: `tensor model directly, 1 MB FP32 as ${as === 'json' ? 'JSON' : 'binary'} (baseline)`,
        service: tensorModel,
        path: tensorPath,
        shape: `tensor-${as}` as const,
        part: `tensor-${as}`,
      },
      {
        id: `tensor-${as}`,
        label: `router /v2 single durable, 1 MB FP32 as ${as === 'json' ? 'JSON' : 'binary'}`,
        service: durable,
        path: routerTensorPath,
        shape: `tensor-${as}` as const,
      },
    ]),
  ]).filter((p) => only.has(p.part ?? p.id) && p.service);
  const samples = new Map<string, Row[]>();
  for (let round = 1; round <= opts.rounds; round++) {
    log(`round ${round} of ${opts.rounds}`);
    for (const p of plan) {
      if (p.id === 'direct' && round > 1) continue; // a reference, not a goal: one round is enough
      const row = await measure(p.id, p.label, p.service!, p.path, opts, undefined, p.shape);
      samples.set(p.id, [...(samples.get(p.id) ?? []), row]);
    }
  }
  for (const p of plan) rows.push(combineRounds(samples.get(p.id)!));

  if (only.has('rate') && bare && durable) {
    for (const rate of opts.rates) {
      rows.push(await measure(`rate-bare-${rate}`, 'bare proxy, fixed rate', bare, '/', opts, rate));
      rows.push(await measure(`rate-durable-${rate}`, 'router single durable, fixed rate', durable, predict('bench-single'), opts, rate));
      if (fast) rows.push(await measure(`rate-fast-${rate}`, 'router single fast, fixed rate', fast, predict('bench-single'), opts, rate));
      // At saturation a p99 is mostly queueing; the shadow goal is about the primary's latency at a rate both sustain.
      if (only.has('shadow'))
        rows.push(await measure(`rate-shadow-${rate}`, 'router shadow durable, fixed rate', durable, predict('bench-shadow'), opts, rate));
    }
  }

  if (only.has('evaluate') && durable) rows.push(...(await evaluateRuns(durable, opts)));

  if (only.has('kafka')) {
    for (const service of [bare, bareFastify, durable, fast, off, nginx, tensorModel]) if (service) await stopService(service);
    const loopRequests = `${TOPIC_PREFIX}bare-requests`;
    const loopResponses = `${TOPIC_PREFIX}bare-responses`;
    await createTopics([loopRequests, loopResponses]);
    const loop = await startService('bare-kafka-loop', 'dist/bench/bare-kafka-loop.js', {
      MODEL_URL: modelUrl,
      REQUESTS_TOPIC: loopRequests,
      RESPONSES_TOPIC: loopResponses,
      GROUP: `${RUN_ID}-bare-loop`,
    });
    rows.push(await kafkaRun('kafka-bare', 'bare kafkajs loop (baseline)', loop, loopRequests, loopResponses, opts));
    await stopService(loop);
    const ingress = await startService('router-ingress', 'dist/apps/router/src/main.js', {
      ...routerEnv('durable'),
      KAFKA_INGRESS: 'true',
      INGRESS_GROUP: `${RUN_ID}-ingress`,
      INSTANCE_ID: `${RUN_ID}-ingress`,
    });
    await putDeployment(ingress, 'bench-single', specs(modelUrl)['bench-single']);
    rows.push(await kafkaRun('kafka-router', 'router Kafka ingress, single durable', ingress, `${TOPIC_PREFIX}requests`, `${TOPIC_PREFIX}responses`, opts));
    await stopService(ingress);
  } else {
    for (const service of [bare, bareFastify, durable, fast, off, nginx, tensorModel]) if (service) await stopService(service);
  }
  return { rows, ratios: routerRatios(rows, opts) };
}

/** Joined events the evaluate run's scans read: enough for a scan of a few seconds. */
const SCAN_EVENTS = 100_000;
/** Offered predict rate while idle and while evaluate scans: one the router sustains with room. */
const EVALUATE_RATE = 50;

/**
 * Predict latency at a fixed rate with the router idle, then while evaluate scans the
 * joined topic back to back (each scan in its worker thread): the ratio of the two is what
 * an operator's evaluation costs the traffic (issue #25: p50 went from 9 to 307 ms when
 * the scan ran on the event loop).
 */
async function evaluateRuns(router: Service, opts: Options): Promise<Row[]> {
  const { Kafka, logLevel, Partitioners } = await import('kafkajs');
  const name = 'bench-scan';
  await putDeployment(router, name, {
    variants: [
      { name: 'a', url: 'http://127.0.0.1:9', model: 'm' },
      { name: 'b', url: 'http://127.0.0.1:9', model: 'm' },
    ],
    strategy: { type: 'canary', primary: 'a', canary: 'b', percent: 20 },
  });
  const producer = new Kafka({ brokers: brokers(), clientId: 'bench-evaluate', logLevel: logLevel.NOTHING }).producer({
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  log(`evaluate: writing ${SCAN_EVENTS} joined events for the scans`);
  const at = new Date().toISOString();
  for (let start = 0; start < SCAN_EVENTS; start += 5000) {
    const messages = Array.from({ length: 5000 }, (_, i) => {
      const onB = (start + i) % 5 === 0;
      const event = {
        type: 'joined',
        version: 1,
        eventId: `${RUN_ID}-${start + i}`,
        occurredAt: at,
        requestId: `${RUN_ID}-scan-${start + i}`,
        deployment: name,
        variant: onB ? 'b' : 'a',
        role: 'served',
        strategy: 'canary',
        specVersion: 1,
        probability: onB ? 0.2 : 0.8,
        outputs: [],
        latencyMs: 1,
        label: 1,
        reward: (start + i) % 2,
        predictedAt: at,
        feedbackAt: at,
      };
      return { key: event.requestId, value: JSON.stringify(event) };
    });
    await producer.send({ topic: `${TOPIC_PREFIX}joined`, messages });
  }
  await producer.disconnect();

  const rows = [
    await measure('evaluate-idle', 'router single, predict at a fixed rate, idle', router, '/v1/deployments/bench-single/predict', opts, EVALUATE_RATE),
  ];
  let scanning = true;
  let scans = 0;
  const loop = (async () => {
    while (scanning) {
      const res = await fetch(`http://127.0.0.1:${router.port}/v1/deployments/${name}/evaluate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${process.env.ADMIN_API_KEY!.split(',')[0]}`, 'content-type': 'application/json' },
        body: JSON.stringify({ policy: { type: 'single', variant: 'b' } }),
      });
      const body = (await res.json()) as { scanned?: number; scanMs?: number };
      if (res.status !== 200) throw new Error(`evaluate: ${res.status} ${JSON.stringify(body)}`);
      scans++;
      log(`evaluate: a scan read ${body.scanned} events in ${body.scanMs} ms`);
    }
  })();
  try {
    rows.push(
      await measure(
        'evaluate-scanning',
        'router single, predict at a fixed rate, while evaluate scans',
        router,
        '/v1/deployments/bench-single/predict',
        opts,
        EVALUATE_RATE,
      ),
    );
  } finally {
    scanning = false;
    await loop;
  }
  log(`evaluate: ${scans} scans during warm-up and measurement`);
  return rows;
}

const sum = (a?: number, b?: number) => (a === undefined || b === undefined ? undefined : a + b);

function routerRatios(rows: Row[], opts: Options) {
  const get = (id: string) => rows.find((r) => r.id === id);
  const list = [
    ratio('router durable / bare Fastify proxy, throughput', div(get('durable')?.rps, get('bare-fastify')?.rps), '≥ 0.70', (v) => v >= 0.7),
    ratio('router durable / bare node-http proxy, throughput', div(get('durable')?.rps, get('bare')?.rps), '≥ 0.70', (v) => v >= 0.7),
    ratio('router off / bare Fastify proxy, throughput (NestJS, validation, strategy, metrics)', div(get('off')?.rps, get('bare-fastify')?.rps), '(info)'),
    ratio('bare Fastify / bare node-http proxy, throughput (the framework alone)', div(get('bare-fastify')?.rps, get('bare')?.rps), '(info)'),
    ratio('publishing cost: router durable / router off, throughput', div(get('durable')?.rps, get('off')?.rps), '≥ 0.85', (v) => v >= 0.85),
    ratio('publishing cost: router fast / router off, throughput', div(get('fast')?.rps, get('off')?.rps), '≥ 0.85', (v) => v >= 0.85),
    ratio('canary 10% / single, throughput', div(get('canary')?.rps, get('durable')?.rps), '≥ 0.95', (v) => v >= 0.95),
    ratio('bandit thompson / single, throughput', div(get('bandit')?.rps, get('durable')?.rps), '≥ 0.95', (v) => v >= 0.95),
    ratio('shadow / single at saturation, primary p99 (queueing: follows throughput)', div(get('shadow')?.p99, get('durable')?.p99), '(info)'),
    ratio('shadow / single at saturation, throughput', div(get('shadow')?.rps, get('durable')?.rps), '(info)'),
    ratio('Kafka ingress: router / bare kafkajs loop, throughput', div(get('kafka-router')?.rps, get('kafka-bare')?.rps), '(info)'),
    ratio('peer: router canary / nginx canary, throughput', div(get('canary')?.rps, get('nginx-canary')?.rps), '≥ 0.80', (v) => v >= 0.8),
    ratio('peer: router canary / nginx canary, CPU per request (router alone)', div(get('canary')?.cpuUs, get('nginx-canary')?.cpuUs), '≤ 3', (v) => v <= 3),
    ratio(
      'peer: router canary / nginx canary, CPU per request (router + broker)',
      div(sum(get('canary')?.cpuUs, get('canary')?.brokerCpuUs), get('nginx-canary')?.cpuUs),
      '(info)',
    ),
    ratio('peer: router shadow / nginx mirror, throughput', div(get('shadow')?.rps, get('nginx-shadow')?.rps), '(info)'),
    ratio('1 MB FP32 tensor as JSON: router / model directly, throughput', div(get('tensor-json')?.rps, get('tensor-direct-json')?.rps), '(info)'),
    ratio(
      '1 MB FP32 tensor, binary extension: router / model directly, throughput',
      div(get('tensor-binary')?.rps, get('tensor-direct-binary')?.rps),
      '≥ 0.80',
      (v) => v >= 0.8,
    ),
    ratio('1 MB FP32 tensor through the router: binary / JSON, throughput', div(get('tensor-binary')?.rps, get('tensor-json')?.rps), '(info)'),
    ratio('peer: router shadow / nginx mirror, CPU per request (router alone)', div(get('shadow')?.cpuUs, get('nginx-shadow')?.cpuUs), '(info)'),
  ];
  list.push(
    ratio(
      `predict p50 at ${EVALUATE_RATE} req/s while evaluate scans / idle`,
      div(get('evaluate-scanning')?.p50, get('evaluate-idle')?.p50),
      '≤ 2',
      (v) => v <= 2,
    ),
    ratio(`predict p99 at ${EVALUATE_RATE} req/s while evaluate scans / idle`, div(get('evaluate-scanning')?.p99, get('evaluate-idle')?.p99), '(info)'),
  );
  for (const rate of opts.rates) {
    const shadow = get(`rate-shadow-${rate}`);
    const single = get(`rate-durable-${rate}`);
    if (shadow && single) list.push(ratio(`shadow / single at ${rate} req/s, primary p99`, div(shadow.p99, single.p99), '≤ 1.10', (v) => v <= 1.1));
    const rb = get(`rate-bare-${rate}`);
    for (const mode of ['durable', 'fast']) {
      const rr = get(`rate-${mode}-${rate}`);
      if (!rb || !rr) continue;
      list.push(ratio(`added p50 at ${rate} req/s, ms (router ${mode} − bare)`, rr.p50! - rb.p50!, '(info)'));
      list.push(ratio(`added p99 at ${rate} req/s, ms (router ${mode} − bare)`, rr.p99! - rb.p99!, '< 2 ms', (v) => v < 2));
      list.push(ratio(`broker CPU µs per event at ${rate} req/s (router ${mode})`, rr.brokerCpuUs, '≤ 50', (v) => v <= 50));
    }
  }
  return list;
}
