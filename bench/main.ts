/**
 * `npm run bench`: each figure measured against its baseline in the same run, on this
 * machine, with the real Kafka, Redis and demo model-server, and reported as a ratio.
 * See docs/benchmarks.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  LOGS,
  OUT,
  Options,
  PartResult,
  REDIS_PREFIX,
  ROOT,
  RUN_ID,
  TOPIC_PREFIX,
  childCount,
  cleanupData,
  killAll,
  log,
  startService,
  stopAll,
  stopService,
} from './harness';
import { machine, markdown } from './report';
import { PIPELINE_RUNS, runPipelineBench } from './pipeline';
import { GRPC_RUNS, runGrpcBench } from './grpc';
import { runRegretBench } from './regret';
import { runContextualRegretBench } from './regret-contextual';
import { ROUTER_RUNS, runRouterBench } from './router';

const PARTS = [...ROUTER_RUNS, ...GRPC_RUNS, 'regret', 'regret-contextual', ...PIPELINE_RUNS];

const HELP = `Usage: npm run bench -- [options]

Measures Switchyard against baselines in the same run on this machine, with real Kafka,
Redis and the demo model-server, and reports ratios: the router against a bare proxy,
publishing against publishing off, strategies against 'single', OIP over gRPC against
REST through the same router, the Kafka ingress against a bare kafkajs loop, a 1 MB FP32
tensor through /v2 as JSON and in Triton's binary extension against the tensor model called
directly, the bandit's regret through the real learning loop
against an in-memory Thompson reference with instant feedback (and, on a problem whose
best model depends on the segment, linear Thompson, SquareCB and context-free Thompson
against the same algorithms in memory), and the event pipeline
(feedback-joiner + bandit-updater) against a bare kafkajs consume-produce loop. Peers users
would pick instead, in the same run: nginx as a canary (split_clients) and shadow (mirror)
proxy, and a Kafka Streams exactly-once join on the pipeline's backlog.
Results: a table on stdout, JSON and Markdown under .bench/.

Options:
  --duration <s>      measured seconds per HTTP run (default 8)
  --rounds <n>        interleaved rounds of the saturation runs; a row is their mean (default 2)
  --warmup <s>        warm-up seconds before each HTTP run, not measured (default 2)
  --connections <n>   autocannon connections for saturation runs (default 128)
  --rates <list>      offered req/s of the fixed-rate runs, comma-separated (default 1000,2000)
  --messages <n>      requests per Kafka-ingress run (default 5000)
  --events <n>        prediction/feedback pairs per event-pipeline run (default 20000)
  --requests <n>      requests per regret run, real loop and reference alike (default 2000)
  --regret-rate <n>   offered req/s of the regret real loop (default 50)
  --regret-runs <n>   real-loop runs of the regret bench, each on a fresh deployment (default 1)
  --regret-timeout <ms>  the regret benches' variants' timeoutMs: raise it on a loaded machine,
                      where a model call late past it fails the run (default 1000)
  --only <list>       comma-separated runs to do (default all):
                      ${PARTS.join(',')}
  -h, --help          show this help

Environment: KAFKA_BROKERS, REDIS_URL; BENCH_PROFILE=1 (routers) or =<service name
prefix> writes V8 CPU profiles to .bench/profiles/. Each run uses its own TOPIC_PREFIX
and REDIS_PREFIX (bench-<time>.) and deletes its keys and topics at the end.
`;

function options(): { opts: Options; only: Set<string> } | undefined {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '8' },
      rounds: { type: 'string', default: '2' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '128' },
      rates: { type: 'string', default: '1000,2000' },
      messages: { type: 'string', default: '5000' },
      events: { type: 'string', default: '20000' },
      requests: { type: 'string', default: '2000' },
      'regret-rate': { type: 'string', default: '50' },
      'regret-runs': { type: 'string', default: '1' },
      'regret-timeout': { type: 'string', default: '1000' },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return undefined;
  const number = (name: string, value: string, min: number) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}, got ${JSON.stringify(value)}`);
    return n;
  };
  const opts: Options = {
    rounds: number('rounds', values.rounds!, 1),
    duration: number('duration', values.duration!, 1),
    warmup: number('warmup', values.warmup!, 0),
    connections: number('connections', values.connections!, 1),
    rates: values.rates!.split(',').map((r) => number('rates', r.trim(), 1)),
    messages: number('messages', values.messages!, 1),
    events: number('events', values.events!, 1),
    requests: number('requests', values.requests!, 10),
    regretRate: number('regret-rate', values['regret-rate']!, 1),
    regretRuns: number('regret-runs', values['regret-runs']!, 1),
    regretTimeoutMs: number('regret-timeout', values['regret-timeout']!, 1),
  };
  const only = new Set((values.only ?? PARTS.join(',')).split(',').map((s) => s.trim()));
  const unknown = [...only].filter((id) => !PARTS.includes(id));
  if (unknown.length) throw new Error(`--only: unknown run(s) ${unknown.join(', ')}; choose from ${PARTS.join(',')}`);
  return { opts, only };
}

async function main(): Promise<void> {
  const parsed = options();
  if (!parsed) {
    process.stdout.write(HELP);
    return;
  }
  const { opts, only } = parsed;
  mkdirSync(LOGS, { recursive: true });
  const info = machine();
  log(`${info.cpu}, ${info.cores} cores, Node ${info.node}; prefixes ${TOPIC_PREFIX} / ${REDIS_PREFIX}; logs in .bench/logs/`);

  const results: PartResult[] = [];
  try {
    const needModel = [...ROUTER_RUNS, ...GRPC_RUNS].some((id) => only.has(id)) || only.has('regret') || only.has('regret-contextual');
    const model = needModel ? await startService('model-server', 'dist/apps/model-server/src/main.js', {}) : undefined;
    if (model) {
      const modelUrl = `http://127.0.0.1:${model.port}`;
      if (ROUTER_RUNS.some((id) => only.has(id))) results.push(await runRouterBench(opts, only, modelUrl, model));
      if (only.has('grpc')) results.push(await runGrpcBench(opts, modelUrl));
      if (only.has('regret')) results.push(await runRegretBench(opts, modelUrl));
      if (only.has('regret-contextual')) results.push(await runContextualRegretBench(opts, modelUrl));
      await stopService(model);
    }
    // No model-server: the pipeline's events carry the demo models' outputs already.
    if (PIPELINE_RUNS.some((id) => only.has(id))) results.push(await runPipelineBench(opts, only));
  } finally {
    await stopAll();
    await cleanupData();
  }

  const rows = results.flatMap((r) => r.rows);
  const ratios = results.flatMap((r) => r.ratios);
  const md = markdown(
    rows,
    ratios,
    results.flatMap((r) => r.sections ?? []),
    info,
    opts,
  );
  const json = JSON.stringify({ machine: info, options: opts, runId: RUN_ID, rows, ratios }, null, 2) + '\n';
  const stamp = info.date.replace(/[:.]/g, '-');
  for (const name of [`bench-${stamp}`, 'latest']) {
    writeFileSync(join(OUT, `${name}.json`), json);
    writeFileSync(join(OUT, `${name}.md`), md);
  }
  process.stdout.write(`\n${md}\n`);
  log(`done; wrote .bench/bench-${stamp}.{json,md} and .bench/latest.{json,md} (under ${ROOT})`);
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
      if (childCount() > 0) return;
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
