/**
 * The Open Inference Protocol over gRPC, by the same closed-loop driver in the same run:
 * small requests (the demo's 4 features) through the router as gRPC against REST, so the
 * two rows differ only in the protocol (issue #27's goal: gRPC throughput ≥ REST's); and a
 * 1 MB FP32 tensor as raw contents through the router to a `protocol: "grpc"` variant
 * against calling that model server's gRPC service directly, so the ratio is what the
 * router adds to a large tensor.
 */
import * as grpc from '@grpc/grpc-js';
import { createHistogram } from 'node:perf_hooks';
import { Pool } from 'undici';
import { GrpcInferRequest, inferRequestToGrpc } from '@switchyard/contracts';
import { toInferInputs } from '@switchyard/demo-models';
import { oipGrpcService } from '@switchyard/model-client';
import {
  Options,
  PartResult,
  REDIS_PREFIX,
  RUN_ID,
  Row,
  Service,
  TOPIC_PREFIX,
  combineRounds,
  cpuPer,
  div,
  fmt,
  freePort,
  load1,
  log,
  ratio,
  startService,
  stopService,
  treeCpuSeconds,
} from './harness';
import { putDeployment } from './router';

export const GRPC_RUNS = ['grpc'];

const REQUEST = { inputs: toInferInputs([0.2, 0.4, 0.6, 0.8]) };
const BODY = JSON.stringify(REQUEST);
const MESSAGE: GrpcInferRequest = inferRequestToGrpc('bench-grpc', undefined, REQUEST);
const MODEL_INFER = '/inference.GRPCInferenceService/ModelInfer';
/** 1 MiB of FP32 features: 65,536 rows of the demo's 4, which the model scores as a batch. */
const LARGE_ROWS = 65_536;
/** Calls in flight on the 1 MB rows: each costs the model 100+ ms of CPU, so more only queue (and hold 1 MB each). */
const LARGE_CONCURRENCY = 2;

/** A ModelInfer of `model` carrying a 1 MiB FP32 tensor as raw_input_contents, as tritonclient.grpc sends it. */
function largeMessage(model: string): GrpcInferRequest {
  const features = Float32Array.from({ length: LARGE_ROWS * 4 }, (_, i) => ((i * 7919) % 1000) / 1000);
  const raw = Buffer.from(features.buffer);
  return {
    model_name: model,
    inputs: [{ name: 'features', datatype: 'FP32', shape: [LARGE_ROWS, 4] }],
    raw_input_contents: [raw],
  };
}
const asIs = (bytes: Buffer) => bytes;

type Call = () => Promise<boolean>;

/** `concurrency` callers, each sending its next request when the last answered, for `seconds`. */
async function closedLoop(call: Call, concurrency: number, seconds: number): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const histogram = createHistogram();
  const until = performance.now() + seconds * 1000;
  let done = 0;
  let errors = 0;
  const worker = async () => {
    while (performance.now() < until) {
      const sent = performance.now();
      const ok = await call().catch(() => false);
      histogram.record(Math.max(1, Math.round((performance.now() - sent) * 1e6)));
      if (ok) done++;
      else errors++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { rps: done / ((performance.now() - t0) / 1000), p50: histogram.percentile(50) / 1e6, p99: histogram.percentile(99) / 1e6, errors };
}

export async function runGrpcBench(opts: Options, modelUrl: string): Promise<PartResult> {
  const grpcPort = await freePort();
  // Its own model server, serving gRPC too (the shared one serves REST only), its messages sized for the 1 MB rows.
  const modelGrpcPort = await freePort();
  const model = await startService('model-server-grpc', 'dist/apps/model-server/src/main.js', {
    GRPC_PORT: String(modelGrpcPort),
    MAX_BODY_BYTES: String(8 * 1024 * 1024),
  });
  const router = await startService('router-grpc', 'dist/apps/router/src/main.js', {
    PUBLISH_MODE: 'durable',
    KAFKA_INGRESS: 'false',
    TOPIC_PREFIX,
    REDIS_PREFIX,
    INSTANCE_ID: `${RUN_ID}-grpc`,
    GRPC_PORT: String(grpcPort),
  });
  await putDeployment(router, 'bench-grpc', {
    variants: [{ name: 'v1', url: modelUrl, model: 'churn-v1', protocol: 'v2', timeoutMs: 500 }],
    strategy: { type: 'single', variant: 'v1' },
  });
  // The 1 MB rows' router is durable too: its prediction events carry the tensors by digest, under Kafka's record limit.
  const largeGrpcPort = await freePort();
  const largeRouter = await startService('router-grpc-1mb', 'dist/apps/router/src/main.js', {
    PUBLISH_MODE: 'durable',
    KAFKA_INGRESS: 'false',
    TOPIC_PREFIX,
    REDIS_PREFIX,
    INSTANCE_ID: `${RUN_ID}-grpc-1mb`,
    GRPC_PORT: String(largeGrpcPort),
  });
  await putDeployment(largeRouter, 'bench-grpc-1mb', {
    variants: [{ name: 'v1', url: `http://127.0.0.1:${modelGrpcPort}`, model: 'churn-v1', protocol: 'grpc', timeoutMs: 60_000 }],
    strategy: { type: 'single', variant: 'v1' },
  });
  const pool = new Pool(`http://127.0.0.1:${router.port}`, { connections: opts.connections, pipelining: 1, keepAliveTimeout: 30_000 });
  // Both drivers send bytes built once and read the answer's bytes without parsing them (undici does not parse
  // the JSON either), so neither row pays its client's encoding and decoding: grpc-js's protobuf, in JavaScript,
  // cost the bench process 3× undici's CPU per request, on the cores the router runs on.
  const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
  const direct = new grpc.Client(`127.0.0.1:${modelGrpcPort}`, grpc.credentials.createInsecure());
  const large = new grpc.Client(`127.0.0.1:${largeGrpcPort}`, grpc.credentials.createInsecure());
  const serialize = oipGrpcService().service.ModelInfer.requestSerialize;
  const encoded = serialize(MESSAGE);
  const send =
    (to: grpc.Client, bytes: Buffer): Call =>
    () =>
      new Promise((resolve) => to.makeUnaryRequest(MODEL_INFER, asIs, asIs, bytes, (error) => resolve(error === null)));
  // `target`: the process whose CPU a row counts (the router, unless the row calls the model directly).
  const calls: Record<string, { label: string; call: Call; concurrency?: number; target?: Service }> = {
    'grpc-rest': {
      label: 'router single durable, OIP REST /v2 infer, small request',
      call: async () => {
        const answer = await pool.request({ method: 'POST', path: '/v2/models/bench-grpc/infer', headers: { 'content-type': 'application/json' }, body: BODY });
        await answer.body.text();
        return answer.statusCode === 200;
      },
    },
    grpc: {
      label: 'router single durable, OIP gRPC ModelInfer, small request',
      call: send(client, encoded),
    },
    'grpc-1mb-direct': {
      label: 'model-server direct, OIP gRPC ModelInfer, 1 MB FP32 raw_input_contents',
      call: send(direct, serialize(largeMessage('churn-v1'))),
      concurrency: LARGE_CONCURRENCY,
      target: model,
    },
    'grpc-1mb': {
      label: 'router single durable → grpc variant, OIP gRPC ModelInfer, 1 MB FP32 raw_input_contents',
      call: send(large, serialize(largeMessage('bench-grpc-1mb'))),
      concurrency: LARGE_CONCURRENCY,
      target: largeRouter,
    },
  };
  const samples = new Map<string, Row[]>();
  // The driver runs in this process on the same cores: its own CPU per request (the client library's cost) takes cores from the router.
  const driverCpu = new Map<string, number[]>();
  try {
    for (const { call, concurrency } of Object.values(calls)) await closedLoop(call, concurrency ?? opts.connections, Math.max(3, opts.warmup));
    for (let round = 1; round <= opts.rounds; round++) {
      for (const [id, { label, call, concurrency = opts.connections, target = router }] of Object.entries(calls)) {
        if (opts.warmup > 0) await closedLoop(call, concurrency, opts.warmup);
        log(`${id}: ${label} — measuring ${opts.duration} s with ${concurrency} in flight`);
        const cpuBefore = treeCpuSeconds(target.child.pid!);
        const driverBefore = process.cpuUsage();
        const r = await closedLoop(call, concurrency, opts.duration);
        const driver = process.cpuUsage(driverBefore);
        driverCpu.set(id, [...(driverCpu.get(id) ?? []), (driver.user + driver.system) / (r.rps * opts.duration)]);
        const row: Row = { id, label, target: target.name, mode: 'saturation', ...r, peakRssIsRunPeak: false, load1: load1() };
        row.cpuUs = cpuPer(cpuBefore, treeCpuSeconds(target.child.pid!), r.rps * opts.duration);
        log(`${id}: ${r.rps.toFixed(0)} req/s, p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms, errors ${r.errors}, CPU ${fmt(row.cpuUs, 0)} µs/req`);
        samples.set(id, [...(samples.get(id) ?? []), row]);
      }
    }
  } finally {
    client.close();
    direct.close();
    large.close();
    await pool.close();
    await stopService(router);
    await stopService(largeRouter);
    await stopService(model);
  }
  const rows = Object.keys(calls).map((id) => combineRounds(samples.get(id)!));
  const get = (id: string) => rows.find((row) => row.id === id);
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const driverNote = Object.keys(calls)
    .map((id) => `${id} ${fmt(mean(driverCpu.get(id)!), 0)}`)
    .join(', ');
  return {
    rows,
    sections: [
      `OIP gRPC: one closed-loop driver in the bench process (grpc-js, one HTTP/2 channel per server; undici, ${opts.connections} connections; both send prebuilt bytes and read the answer's bytes unparsed; ${LARGE_CONCURRENCY} calls in flight on the 1 MB rows, ${opts.connections} on the others), sharing the cores with the router. Its own CPU µs per request: ${driverNote}.`,
    ],
    ratios: [
      ratio('OIP gRPC / REST through the router, small requests, throughput', div(get('grpc')?.rps, get('grpc-rest')?.rps), '≥ 1.0', (v) => v >= 1),
      ratio('OIP gRPC / REST through the router, small requests, router CPU per request', div(get('grpc')?.cpuUs, get('grpc-rest')?.cpuUs), '(info)'),
      ratio('OIP gRPC 1 MB FP32 tensor through the router / the model directly, throughput', div(get('grpc-1mb')?.rps, get('grpc-1mb-direct')?.rps), '(info)'),
    ],
  };
}
