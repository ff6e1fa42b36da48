/**
 * The Open Inference Protocol over gRPC, by the same native closed-loop driver (h2load,
 * bench/h2load.ts) in the same run: small requests (the demo's 4 features) through the
 * router as gRPC against REST, so the two rows differ only in the protocol (issue #27's
 * goal: gRPC throughput ≥ REST's); and a 1 MB FP32 tensor as raw contents through the
 * router to a `protocol: "grpc"` variant against calling that model server's gRPC service
 * directly, so the ratio is what the router adds to a large tensor.
 */
import { GrpcInferRequest, inferRequestToGrpc } from '@switchyard/contracts';
import { toInferInputs } from '@switchyard/demo-models';
import { oipGrpcService } from '@switchyard/model-client';
import { GRPC_HEADERS, Load, ensureH2load, grpcFrame, grpcStatusOf, h2load } from './h2load';
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
const BODY = Buffer.from(JSON.stringify(REQUEST));
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

/** Calls that did not answer gRPC status OK, as the router counts them (h2load sees HTTP 200 either way). */
async function grpcFailures(router: Service): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${router.port}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('switchyard_router_grpc_calls_total{') && line.includes('rpc="ModelInfer"') && !line.includes('code="OK"')) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
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
  ensureH2load();
  const serialize = oipGrpcService().service.ModelInfer.requestSerialize;
  const grpcLoad = (id: string, port: number, message: GrpcInferRequest, connections: number, streams: number): Load => ({
    id,
    url: `http://127.0.0.1:${port}${MODEL_INFER}`,
    h1: false,
    headers: GRPC_HEADERS,
    body: grpcFrame(serialize(message)),
    connections,
    streams,
    seconds: opts.duration,
  });
  // The same in-flight count on the small rows: REST over `connections` HTTP/1.1 connections; gRPC over one HTTP/2
  // connection of that many streams (a gRPC client's one channel, as grpc-js and tritonclient use it), and over as
  // many connections of one stream each (REST's shape). `target`: the process whose CPU a row counts; `router`: whose gRPC failures it counts.
  const small = opts.connections;
  const calls: Record<string, { label: string; load: Load; target: Service; router?: Service }> = {
    'grpc-rest': {
      label: `router single durable, OIP REST /v2 infer, small request (HTTP/1.1, ${small} connections)`,
      load: {
        id: 'grpc-rest',
        url: `http://127.0.0.1:${router.port}/v2/models/bench-grpc/infer`,
        h1: true,
        headers: { 'content-type': 'application/json' },
        body: BODY,
        connections: small,
        streams: 1,
        seconds: opts.duration,
      },
      target: router,
    },
    grpc: {
      label: `router single durable, OIP gRPC ModelInfer, small request (1 HTTP/2 connection × ${small} streams, a gRPC client's channel)`,
      load: grpcLoad('grpc', grpcPort, MESSAGE, 1, small),
      target: router,
      router,
    },
    'grpc-connections': {
      label: `router single durable, OIP gRPC ModelInfer, small request (${small} HTTP/2 connections × 1 stream, REST's shape)`,
      load: grpcLoad('grpc-connections', grpcPort, MESSAGE, small, 1),
      target: router,
      router,
    },
    'grpc-1mb-direct': {
      label: 'model-server direct, OIP gRPC ModelInfer, 1 MB FP32 raw_input_contents',
      load: grpcLoad('grpc-1mb-direct', modelGrpcPort, largeMessage('churn-v1'), 1, LARGE_CONCURRENCY),
      target: model,
    },
    'grpc-1mb': {
      label: 'router single durable → grpc variant, OIP gRPC ModelInfer, 1 MB FP32 raw_input_contents',
      load: grpcLoad('grpc-1mb', largeGrpcPort, largeMessage('bench-grpc-1mb'), 1, LARGE_CONCURRENCY),
      target: largeRouter,
      router: largeRouter,
    },
  };
  const samples = new Map<string, Row[]>();
  // h2load's own CPU per request: it shares the cores with the router, so what it spends the router does not get.
  const driverCpu = new Map<string, number[]>();
  try {
    for (const { load } of Object.values(calls)) {
      if (load.h1) continue;
      // h2load counts a gRPC error as an answer (HTTP 200): one call's status first, by nghttp.
      const status = grpcStatusOf(load);
      if (status !== '0') throw new Error(`${load.id}: a call answered grpc-status ${status ?? '(none)'}, not 0 (OK)`);
    }
    for (const { load } of Object.values(calls)) await h2load({ ...load, seconds: Math.max(3, opts.warmup) });
    for (let round = 1; round <= opts.rounds; round++) {
      for (const [id, { label, load, target, router: counted }] of Object.entries(calls)) {
        if (opts.warmup > 0) await h2load({ ...load, seconds: opts.warmup });
        log(`${id}: ${label} — measuring ${opts.duration} s with ${load.connections * load.streams} in flight`);
        const failedBefore = counted && (await grpcFailures(counted));
        const cpuBefore = treeCpuSeconds(target.child.pid!);
        const r = await h2load(load);
        const cpuAfter = treeCpuSeconds(target.child.pid!);
        const failed = counted ? (await grpcFailures(counted)) - failedBefore! : 0;
        const answered = r.ok - failed;
        const rps = (r.rps * answered) / Math.max(1, r.ok);
        driverCpu.set(id, [...(driverCpu.get(id) ?? []), (r.driverCpu * 1e6) / Math.max(1, r.ok)]);
        const row: Row = {
          id,
          label,
          target: target.name,
          mode: 'saturation',
          rps,
          p50: r.p50,
          p99: r.p99,
          errors: r.errors + failed,
          peakRssIsRunPeak: false,
          load1: load1(),
        };
        row.cpuUs = cpuPer(cpuBefore, cpuAfter, r.ok);
        log(
          `${id}: ${rps.toFixed(0)} req/s, p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms, errors ${r.errors} + gRPC ${failed}, CPU ${fmt(row.cpuUs, 0)} µs/req, h2load ${fmt(driverCpu.get(id)!.at(-1), 0)} µs/req`,
        );
        samples.set(id, [...(samples.get(id) ?? []), row]);
      }
    }
  } finally {
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
      `OIP gRPC: one native closed-loop driver for every row, h2load (nghttp2-client, one thread; REST as HTTP/1.1 with --h1, gRPC as h2c with a length-prefixed protobuf body; prebuilt bytes, answers unparsed; ${opts.connections} requests in flight on the small rows, ${LARGE_CONCURRENCY} on one connection on the 1 MB rows), sharing the cores with the router; gRPC statuses checked by nghttp on one call per row and counted by the router's switchyard_router_grpc_calls_total during each run. Its own CPU µs per request: ${driverNote}.`,
    ],
    ratios: [
      ratio('OIP gRPC / REST through the router, small requests, throughput', div(get('grpc')?.rps, get('grpc-rest')?.rps), '≥ 1.0', (v) => v >= 1),
      ratio('OIP gRPC / REST through the router, small requests, router CPU per request', div(get('grpc')?.cpuUs, get('grpc-rest')?.cpuUs), '(info)'),
      ratio(
        'OIP gRPC on 1 stream per connection / REST through the router, small requests, throughput',
        div(get('grpc-connections')?.rps, get('grpc-rest')?.rps),
        '(info)',
      ),
      ratio('OIP gRPC 1 MB FP32 tensor through the router / the model directly, throughput', div(get('grpc-1mb')?.rps, get('grpc-1mb-direct')?.rps), '(info)'),
    ],
  };
}
