import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { MAX_FEEDBACK_BATCH, topicNames } from '@switchyard/contracts';
import { groundTruth, seededRng, randomFeatures, toInferInputs } from '@switchyard/demo-models';

const HELP = `Switchyard demo: drives a running stack (npm run up) through the four strategies,
a bad canary that the rollout controller rolls back by itself, a plan it walks from
shadow to full traffic, and a contextual bandit that finds each segment's best variant.

Usage: node dist/demo/main.js [--router URL] [--model-server URL] [--requests N] [--waves N] [--rate N]

  --router        router base URL            (default http://127.0.0.1:3000, or ROUTER_URL)
  --model-server  model-server base URL      (default http://127.0.0.1:9000, or MODEL_SERVER_URL)
  --requests      requests per phase; the bandit phase sends twice as many, in waves (default 600)
  --waves         waves of the bandit and contextual phases  (default 8)
  --rate          requests per second of the latency phase, through the router and to the model alone (default 50)
  --help          this text
`;

const { values } = parseArgs({
  options: {
    router: { type: 'string', default: process.env.ROUTER_URL ?? 'http://127.0.0.1:3000' },
    'model-server': { type: 'string', default: process.env.MODEL_SERVER_URL ?? 'http://127.0.0.1:9000' },
    requests: { type: 'string', default: '600' },
    waves: { type: 'string', default: '8' },
    rate: { type: 'string', default: '50' },
    help: { type: 'boolean', default: false },
  },
});

const router = values.router!;
const modelServer = values['model-server']!;
const requests = Number(values.requests);
const waves = Number(values.waves);
const rate = Number(values.rate);
if (!Number.isInteger(requests) || requests < 1 || !Number.isInteger(waves) || waves < 1 || !Number.isInteger(rate) || rate < 1) {
  throw new Error(`--requests, --waves and --rate must be whole numbers ≥ 1; got ${values.requests}, ${values.waves}, ${values.rate}`);
}
const rng = seededRng(42);
/**
 * In every request id: the joiner keeps the first prediction and the first feedback per
 * request id for JOIN_WINDOW_SECONDS, so a second demo within the hour must not reuse them.
 */
const RUN = Date.now().toString(36);
/** A key `npm run up` used: the variable, else the one it generated into `.switchyard/<file>`. */
function keyOf(variable: 'ADMIN_API_KEY' | 'FEEDBACK_API_KEY', file: string): string | undefined {
  if (process.env[variable]) return process.env[variable].split(',')[0];
  const path = join(__dirname, '..', '..', '.switchyard', file);
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}
const key = keyOf('ADMIN_API_KEY', 'admin-key');
const bearer = (secret: string | undefined): Record<string, string> => (secret ? { authorization: `Bearer ${secret}` } : {});
const auth = bearer(key);
/** Feedback goes with the feedback key, as a labelling pipeline holds it (the admin key would do too). */
const feedbackAuth = bearer(keyOf('FEEDBACK_API_KEY', 'feedback-key') ?? key);

async function call(method: string, path: string, body?: unknown): Promise<any> {
  const keyed = path === '/v1/feedback' ? feedbackAuth : auth;
  const headers = body === undefined ? keyed : { ...keyed, 'content-type': 'application/json' };
  const response = await fetch(`${router}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} → ${response.status}: ${text}`);
  return text ? JSON.parse(text) : undefined;
}

const variant = (name: string, model: string) => ({ name, url: modelServer, model, protocol: 'v2', timeoutMs: 1000 });
const VARIANTS = [variant('v1', 'churn-v1'), variant('v2', 'churn-v2'), variant('v3', 'churn-v3')];

interface Feedback {
  requestId: string;
  label: 0 | 1;
}

interface PhaseResult {
  served: Record<string, number>;
  correct: Record<string, number>;
  requestIds: string[];
  latencies: number[];
  /** True labels not sent yet (traffic sent without feedback). */
  feedback: Feedback[];
}

const emptyResult = (): PhaseResult => ({ served: {}, correct: {}, requestIds: [], latencies: [], feedback: [] });

/** Requests sent so far: customers are numbered across calls, so a phase's waves do not all start with the same ones. */
let sent = 0;

/** Sends `count` predictions (16 at a time); the true label of each goes back as feedback at once, or is returned for later when `withFeedback` is false. */
async function traffic(deployment: string, phase: string, count = requests, withFeedback = true, customers = 200): Promise<PhaseResult> {
  const result = emptyResult();
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const customer = sent++ % customers;
      const features = randomFeatures(rng);
      const started = performance.now();
      const answer = await call('POST', `/v1/deployments/${deployment}/predict`, {
        inputs: toInferInputs(features),
        unitKey: `customer-${customer}`,
        requestId: `${deployment}-${RUN}-${phase}-${i}`,
      });
      result.latencies.push(performance.now() - started);
      const label = groundTruth(features);
      result.served[answer.variant] = (result.served[answer.variant] ?? 0) + 1;
      if (answer.outputs[0].data[0] === label) result.correct[answer.variant] = (result.correct[answer.variant] ?? 0) + 1;
      result.requestIds.push(answer.requestId);
      if (withFeedback) await call('POST', '/v1/feedback', { requestId: answer.requestId, label });
      else result.feedback.push({ requestId: answer.requestId, label });
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return result;
}

function merge(into: PhaseResult, part: PhaseResult): void {
  for (const [name, count] of Object.entries(part.served)) into.served[name] = (into.served[name] ?? 0) + count;
  for (const [name, count] of Object.entries(part.correct)) into.correct[name] = (into.correct[name] ?? 0) + count;
  into.requestIds.push(...part.requestIds);
  into.latencies.push(...part.latencies);
}

async function sendFeedback(feedback: Feedback[]): Promise<void> {
  for (let i = 0; i < feedback.length; i += MAX_FEEDBACK_BATCH) await call('POST', '/v1/feedback', feedback.slice(i, i + MAX_FEEDBACK_BATCH));
}

const percentile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];

function report(title: string, result: PhaseResult): void {
  console.log(`\n== ${title}`);
  const total = result.requestIds.length;
  for (const [name, count] of Object.entries(result.served).sort()) {
    const share = ((100 * count) / total).toFixed(1);
    const accuracy = ((100 * (result.correct[name] ?? 0)) / count).toFixed(1);
    console.log(`   ${name}: served ${count} (${share}%), accuracy against ground truth ${accuracy}%`);
  }
  const sorted = [...result.latencies].sort((a, b) => a - b);
  // 16 requests in flight with their labels: the machine's saturation, not a latency to quote (the latency phase is).
  console.log(
    `   latency through the router at saturation (16 in flight, labels sent too): p50 ${percentile(sorted, 0.5).toFixed(1)} ms, p99 ${percentile(sorted, 0.99).toFixed(1)} ms`,
  );
}

/**
 * Latencies of `count` calls started on a fixed schedule, `perSecond` a second (open loop:
 * a slow answer does not delay the next call, so queueing shows in the figures instead of
 * lowering the rate), each from its scheduled start to its answer.
 */
async function paced(count: number, perSecond: number, send: (i: number) => Promise<void>): Promise<number[]> {
  const start = performance.now();
  const calls: Promise<number>[] = [];
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    calls.push(send(i).then(() => performance.now() - due));
  }
  return (await Promise.all(calls)).sort((a, b) => a - b);
}

/**
 * The router's latency at a stated request rate, beside the model's own latency measured
 * the same way (same client, inputs, rate and count, straight to the model server): what
 * the router adds, instead of a figure taken at saturation with nothing to compare it with.
 */
async function latencyPhase(deployment: string, model: string): Promise<string[]> {
  const count = rate * 10;
  const inputs = toInferInputs(randomFeatures(rng));
  const requestIds: string[] = [];
  const alone = await paced(count, rate, async (i) => {
    const response = await fetch(`${modelServer}/v2/models/${model}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: `model-${RUN}-${i}`, inputs }),
    });
    if (!response.ok) throw new Error(`model server → ${response.status}: ${await response.text()}`);
    await response.text();
  });
  const routed = await paced(count, rate, async (i) => {
    const requestId = `${deployment}-${RUN}-latency-${i}`;
    await call('POST', `/v1/deployments/${deployment}/predict`, { inputs, requestId });
    requestIds.push(requestId);
  });
  const line = (sorted: number[]) => `p50 ${percentile(sorted, 0.5).toFixed(1)} ms, p99 ${percentile(sorted, 0.99).toFixed(1)} ms`;
  const added = (q: number) => (percentile(routed, q) - percentile(alone, q)).toFixed(1);
  console.log(`\n== latency at ${rate} requests/s (${count} requests, open loop), one client, the same inputs`);
  console.log(`   the model alone (POST ${modelServer}/v2/models/${model}/infer): ${line(alone)}`);
  console.log(`   through the router (POST /v1/deployments/${deployment}/predict):   ${line(routed)}`);
  console.log(`   the router adds p50 ${added(0.5)} ms, p99 ${added(0.99)} ms (its Kafka event included)`);
  return requestIds;
}

const BANDIT = 'churn-bandit';
/**
 * After each wave: the updater turns the joined feedback into weights (every
 * SNAPSHOT_INTERVAL_MS, 250 ms by default) and the router serves them as soon as they are
 * stored, so the next wave is served with what the feedback taught.
 */
const WAVE_PAUSE_MS = 2500;

/** Rewards the bandit updater has counted for the bandit deployment, per variant. */
async function banditRewards(): Promise<Record<string, { count: number; mean: number }>> {
  const { report } = await call('GET', `/v1/deployments/${BANDIT}`);
  return Object.fromEntries(VARIANTS.map(({ name }) => [name, report[name]?.served?.reward ?? { count: 0, mean: NaN }]));
}

/**
 * The bandit phase in waves, each wave's labels sent only after the next wave's
 * predictions: ground truth arrives a wave late, as it does in production. After each
 * wave, the share each arm was served in it, and how much feedback has been joined so far.
 */
async function banditWaves(): Promise<PhaseResult> {
  const total = emptyResult();
  const perWave = Math.ceil((2 * requests) / waves);
  let late: Feedback[] = [];
  console.log(
    `\n== bandit (thompson) on ${BANDIT}: ${waves} waves of ${perWave} requests; each wave's labels are sent after the next wave, so feedback is one wave late`,
  );
  for (let wave = 1; wave <= waves; wave++) {
    const result = await traffic(BANDIT, `wave${wave}`, perWave, false);
    merge(total, result);
    await sendFeedback(late);
    late = result.feedback;
    await new Promise((resolve) => setTimeout(resolve, WAVE_PAUSE_MS));
    const joined = Object.values(await banditRewards()).reduce((sum, r) => sum + r.count, 0);
    const shares = VARIANTS.map(({ name }) => `${name} ${String(Math.round((100 * (result.served[name] ?? 0)) / perWave)).padStart(3)}%`).join('  ');
    console.log(`   wave ${wave}/${waves}  ${shares}  (feedback joined: ${joined})`);
  }
  await sendFeedback(late);
  const deadline = Date.now() + 15000;
  let rewards = await banditRewards();
  while (Object.values(rewards).reduce((sum, r) => sum + r.count, 0) < total.requestIds.length && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    rewards = await banditRewards();
  }
  const learned = Object.entries(rewards).map(([name, r]) => `${name} ${r.count ? r.mean.toFixed(3) : '–'} over ${r.count}`);
  console.log(`   mean reward learned from the joined feedback: ${learned.join(', ')}`);
  return total;
}

const SEGMENTED = 'churn-segments';
const SEGMENTS = ['retail', 'business'] as const;
/**
 * The contextual phase's reward: whether the customer stayed after the retention offer the
 * model's answer triggered, a stand-in for a business KPI that differs by segment (the demo
 * models' accuracy does not): retail customers respond best to v1's answers, business ones
 * to v3's.
 */
const RETENTION: Record<(typeof SEGMENTS)[number], Record<string, number>> = {
  retail: { v1: 0.8, v2: 0.5, v3: 0.55 },
  business: { v1: 0.35, v2: 0.55, v3: 0.85 },
};

/**
 * A contextual bandit (linear Thompson sampling on one categorical feature, the customer's
 * segment, sent in the predict body's `context`): in waves, each wave's rewards sent after
 * it; the share each segment's best variant got per wave, then the shares per segment the
 * status shows.
 */
async function contextualPhase(): Promise<PhaseResult> {
  await call('PUT', `/v1/deployments/${SEGMENTED}`, {
    variants: VARIANTS,
    strategy: {
      type: 'bandit',
      algorithm: 'linear-thompson',
      minShare: 0.05,
      context: { features: [{ name: 'segment', type: 'categorical', context: 'segment', levels: [...SEGMENTS] }] },
    },
    reward: { type: 'explicit' },
  });
  const total = emptyResult();
  const perWave = Math.ceil(requests / 2);
  console.log(
    `\n== contextual bandit (linear-thompson) on ${SEGMENTED}: retail customers are best served by v1, business ones by v3; ${waves} waves of ${perWave}`,
  );
  for (let wave = 1; wave <= waves; wave++) {
    const served: { requestId: string; segment: (typeof SEGMENTS)[number]; variant: string }[] = [];
    let next = 0;
    const worker = async () => {
      while (next < perWave) {
        const i = next++;
        const segment = SEGMENTS[i % 2];
        const answer = await call('POST', `/v1/deployments/${SEGMENTED}/predict`, {
          inputs: toInferInputs(randomFeatures(rng)),
          requestId: `${SEGMENTED}-${RUN}-w${wave}-${i}`,
          context: { segment },
        });
        served.push({ requestId: answer.requestId, segment, variant: answer.variant });
        total.served[answer.variant] = (total.served[answer.variant] ?? 0) + 1;
        total.requestIds.push(answer.requestId);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    await call(
      'POST',
      '/v1/feedback',
      served.map((s) => ({ requestId: s.requestId, reward: rng() < RETENTION[s.segment][s.variant] ? 1 : 0 })),
    );
    const share = (segment: string, variant: string) => {
      const own = served.filter((s) => s.segment === segment);
      return Math.round((100 * own.filter((s) => s.variant === variant).length) / own.length);
    };
    console.log(
      `   wave ${wave}/${waves}  retail → v1 ${String(share('retail', 'v1')).padStart(3)}%   business → v3 ${String(share('business', 'v3')).padStart(3)}%`,
    );
    await new Promise((resolve) => setTimeout(resolve, WAVE_PAUSE_MS));
  }
  const { segments } = await call('GET', `/v1/deployments/${SEGMENTED}`);
  for (const [segment, weights] of Object.entries((segments ?? {}) as Record<string, Record<string, number>>)) {
    console.log(
      `   status, ${segment}: ${Object.entries(weights)
        .map(([name, w]) => `${name} ${(100 * w).toFixed(0)}%`)
        .join('  ')}`,
    );
  }
  return total;
}

interface RoleReport {
  requests: number;
  errors: number;
  latencyMs: { p50: number | null; p95: number | null };
  agreement?: { rate: number };
  reward?: { count: number; mean: number; low?: number; high?: number };
}

/** The shadow report of GET /v1/deployments/churn, once the shadows' answers are all counted. */
async function shadowReport(): Promise<void> {
  const deadline = Date.now() + 30000;
  let report: Record<string, { served?: RoleReport; shadow?: RoleReport }> = {};
  while (Date.now() < deadline) {
    report = (await call('GET', '/v1/deployments/churn')).report;
    if ((report.v2?.shadow?.requests ?? 0) >= requests && (report.v3?.shadow?.requests ?? 0) >= requests) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  console.log('   shadow report (GET /v1/deployments/churn), counted by the feedback joiner:');
  for (const [variant, roles] of Object.entries(report).sort()) {
    for (const [role, r] of Object.entries(roles) as [string, RoleReport][]) {
      const agreement = r.agreement ? `, agrees with the primary ${(100 * r.agreement.rate).toFixed(1)}%` : '';
      const reward = r.reward ? `, mean reward ${r.reward.mean.toFixed(3)} over ${r.reward.count}` : '';
      console.log(
        `   ${variant} (${role}): ${r.requests} requests, ${r.errors} errors, latency p50 ≤${r.latencyMs.p50} ms p95 ≤${r.latencyMs.p95} ms${agreement}${reward}`,
      );
    }
  }
}

/** The `switchyard` CLI, as an operator runs it (`npx switchyard …`), against the same router. */
function cli(...args: string[]): string {
  const main = join(__dirname, '..', 'apps', 'cli', 'src', 'main.js');
  return execFileSync(process.execPath, [main, '--url', router, ...args], { encoding: 'utf8', env: { ...process.env, ...(key && { ADMIN_API_KEY: key }) } });
}

/**
 * What an operator does next with the CLI: the bandit's status, and what each model alone
 * would have earned on the traffic the bandit logged (off-policy evaluation), before
 * promoting any of them.
 */
function operatorTools(since: string): void {
  console.log(`\n== the operator's view: npx switchyard status ${BANDIT}`);
  console.log(cli('status', BANDIT).replace(/^/gm, '   '));
  console.log(
    `== npx switchyard evaluate ${BANDIT} --since ${since} --policy '{"type":"single","variant":…}': each model alone, estimated from the bandit's logged traffic (true accuracies 0.70, 0.80, 0.90)`,
  );
  for (const { name } of VARIANTS) {
    try {
      // Since the phase began: the joined topic also holds earlier demos' traffic under the same name.
      const estimate = JSON.parse(cli('evaluate', BANDIT, '--policy', JSON.stringify({ type: 'single', variant: name }), '--since', since, '--output', 'json'));
      console.log(
        `   single ${name}: ${estimate.estimate.toFixed(3)} in [${estimate.low.toFixed(3)}, ${estimate.high.toFixed(3)}] (${estimate.method}, ESS ${Math.round(estimate.ess)} of ${estimate.n})`,
      );
    } catch (error) {
      // A model the bandit starved cannot be told (422): the CLI says why.
      const output = (error as { stdout?: string; stderr?: string }).stderr || (error as Error).message;
      console.log(`   single ${name}: refused: ${output.trim().split('\n')[0]}`);
    }
  }
}

const GUARDED = 'churn-guarded';

const fmt = (x: number | null | undefined, digits = 3) => (x === null || x === undefined ? '–' : x.toFixed(digits));

/**
 * A bad canary nobody watches: v1 (right 70 % of the time) as a 30 % canary against v3
 * (90 %), with guardrails. Traffic and labels flow in waves until the rollout controller
 * rolls it back by itself; each wave prints what the controller saw.
 */
async function guardrailsPhase(): Promise<PhaseResult> {
  const total = emptyResult();
  await call('PUT', `/v1/deployments/${GUARDED}`, {
    variants: VARIANTS,
    strategy: { type: 'canary', primary: 'v3', canary: 'v1', percent: 30 },
    guardrails: { alpha: 0.05, minSamples: 100, onFail: 'rollback' },
  });
  console.log(
    `\n== guardrails on ${GUARDED}: v1 (a worse model) is a 30% canary against v3, with guardrails {alpha 0.05, minSamples 100, onFail rollback}; nobody watches`,
  );
  const until = async (check: () => Promise<boolean>, ms: number) => {
    for (const deadline = Date.now() + ms; Date.now() < deadline && !(await check());) await new Promise((r) => setTimeout(r, 250));
  };
  // The controller's first pass takes the baseline the comparison counts from.
  await until(async () => !!(await call('GET', `/v1/deployments/${GUARDED}`)).guardrails?.since, 15000);
  for (let wave = 1; wave <= 40; wave++) {
    // Many customers: the sample-ratio check counts requests, which only fits the split when no few customers carry most of them.
    merge(total, await traffic(GUARDED, `g${wave}`, 100, true, 100_000));
    const spec = await call('GET', `/v1/deployments/${GUARDED}`);
    const g = spec.guardrails;
    const n = g.evidence?.n ?? {};
    const mean = g.evidence?.mean ?? {};
    console.log(
      `   ${String(total.requestIds.length).padStart(5)} requests  v1 ${fmt(mean.v1)} over ${n.v1 ?? 0}  v3 ${fmt(mean.v3)} over ${n.v3 ?? 0}  ` +
        `delta ${fmt(g.evidence?.delta)} in [${fmt(g.evidence?.low)}, ${fmt(g.evidence?.high)}]  ${g.state}`,
    );
    if (spec.strategy.type !== 'canary') break;
  }
  let spec = await call('GET', `/v1/deployments/${GUARDED}`);
  await until(async () => (spec = await call('GET', `/v1/deployments/${GUARDED}`)).guardrails?.lastDecision?.toVersion != null, 15000);
  const decision = spec.guardrails.lastDecision;
  if (!decision) throw new Error('the rollout controller took no decision on the bad canary');
  console.log(
    `   decision by the rollout controller: ${decision.action} (spec v${decision.fromVersion} → v${decision.toVersion}), now ${JSON.stringify(spec.strategy)}`,
  );
  console.log(`   reason: ${decision.reason}`);
  console.log(`   evidence: ${JSON.stringify(spec.guardrails.evidence)}`);
  return total;
}

const PLANNED = 'churn-plan';

/**
 * A whole rollout handed over: v3 walks from shadow through canary 5, 25 and 50 %, a
 * bandit and promotion past v1, each step gated by the rollout controller on ground
 * truth. A live line per wave (step, split served, the gate's evidence), and each
 * transition with its evidence as the controller makes it.
 */
async function planPhase(): Promise<PhaseResult> {
  const total = emptyResult();
  const steps = [
    { shadow: { minSamples: 100 } },
    { canary: 5 },
    { canary: 25 },
    { canary: 50 },
    { bandit: { algorithm: 'thompson', minSamples: 300, minShare: 0.2 } },
    { promote: true },
  ];
  await call('PUT', `/v1/deployments/${PLANNED}`, {
    variants: VARIANTS.filter((v) => v.name !== 'v2'),
    strategy: { type: 'plan', primary: 'v1', candidate: 'v3', steps },
    guardrails: { minSamples: 100 },
  });
  console.log(
    `\n== plan on ${PLANNED}: v3 walks past v1 through ${steps
      .map((step) =>
        Object.entries(step)[0]
          .filter((x) => typeof x !== 'object' && x !== true)
          .join(' '),
      )
      .join(' → ')}, each step gated on labelled pairs; nobody watches`,
  );
  let shown = 0;
  for (let wave = 1; wave <= 80; wave++) {
    const result = await traffic(PLANNED, `p${wave}`, 200, true, 100_000);
    merge(total, result);
    const spec = await call('GET', `/v1/deployments/${PLANNED}`);
    const plan = spec.plan ?? spec.guardrails;
    const history: { action: string; reason: string; fromVersion: number; toVersion: number | null }[] = plan?.history ?? [];
    const split = ['v1', 'v3'].map((name) => `${name} ${String(Math.round((100 * (result.served[name] ?? 0)) / 200)).padStart(3)}%`).join(' ');
    const n = plan?.evidence?.n ?? {};
    const gate = Object.keys(n)
      .map((arm) => `${arm} ${fmt(plan.evidence.mean[arm])} over ${n[arm]}`)
      .join(', ');
    console.log(
      `   ${spec.plan ? `step ${spec.plan.step}/${spec.plan.of} ${spec.plan.kind.padEnd(7)}` : 'finished        '} served ${split}   gate: ${gate || '–'} (${plan?.state ?? 'waiting'})`,
    );
    for (const decision of history.slice(shown))
      console.log(`   → ${decision.action} (v${decision.fromVersion} → v${decision.toVersion ?? '?'}): ${decision.reason}`);
    shown = history.length;
    if (spec.strategy.type === 'single') {
      console.log(`   the plan is done: ${PLANNED} is now ${JSON.stringify(spec.strategy)}, after ${total.requestIds.length} requests`);
      return total;
    }
  }
  throw new Error(`the plan on ${PLANNED} did not finish`);
}

async function countEvents(requestIds: Set<string>): Promise<{ predictions: number; shadowRequests: number }> {
  const topics = topicNames(process.env.TOPIC_PREFIX);
  const kafka = new Kafka({ clientId: 'switchyard-demo', brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `switchyard-demo-${Date.now()}` });
  const seen = { predictions: new Set<string>(), shadowRequests: new Set<string>() };
  await consumer.connect();
  await consumer.subscribe({ topics: [topics.predictions, topics.shadowRequests], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      const key = message.key?.toString() ?? '';
      if (!requestIds.has(key)) return;
      (topic === topics.predictions ? seen.predictions : seen.shadowRequests).add(key);
    },
  });
  const deadline = Date.now() + 20000;
  while (seen.predictions.size < requestIds.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  await consumer.disconnect();
  return { predictions: seen.predictions.size, shadowRequests: seen.shadowRequests.size };
}

async function main(): Promise<void> {
  if (values.help) return void process.stdout.write(HELP);
  const all = new Set<string>();
  const remember = (result: PhaseResult) => result.requestIds.forEach((id) => all.add(id));

  console.log(`Switchyard demo against ${router}; ${requests} requests per phase, true labels sent back as feedback.`);
  console.log(`Watch it live on the dashboard: ${router}/ui (API documentation: ${router}/docs)`);
  // A fresh start: statistics of an earlier run go with the deployment.
  await call('DELETE', '/v1/deployments/churn').catch(() => undefined);
  await call('DELETE', `/v1/deployments/${BANDIT}`).catch(() => undefined);
  await call('DELETE', `/v1/deployments/${GUARDED}`).catch(() => undefined);
  await call('DELETE', `/v1/deployments/${PLANNED}`).catch(() => undefined);
  await call('DELETE', `/v1/deployments/${SEGMENTED}`).catch(() => undefined);
  await call('PUT', '/v1/deployments/churn', { variants: VARIANTS, strategy: { type: 'single', variant: 'v1' } });
  const single = await traffic('churn', 'single');
  report('single: v1 serves everything', single);
  remember(single);
  for (const requestId of await latencyPhase('churn', 'churn-v1')) all.add(requestId);

  await call('PUT', '/v1/deployments/churn', { variants: VARIANTS, strategy: { type: 'shadow', primary: 'v1', shadows: ['v2', 'v3'] } });
  const shadow = await traffic('churn', 'shadow');
  report('shadow: v1 answers, v2 and v3 get a mirrored copy of every request', shadow);
  remember(shadow);
  await shadowReport();

  await call('PUT', '/v1/deployments/churn', { variants: VARIANTS, strategy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 20 } });
  const canary = await traffic('churn', 'canary');
  report('canary: 20% of customers (sticky by unitKey) go to v2', canary);
  remember(canary);

  remember(await guardrailsPhase());
  remember(await planPhase());

  // Its own deployment, so the bandit starts from no statistics instead of the rewards v1 earned above.
  await call('PUT', `/v1/deployments/${BANDIT}`, { variants: VARIANTS, strategy: { type: 'bandit', algorithm: 'thompson', minShare: 0.05 } });
  const banditSince = new Date().toISOString();
  const bandit = await banditWaves();
  report('bandit (thompson), all waves: each request samples an arm from weights derived from the reward statistics in Redis', bandit);
  remember(bandit);

  operatorTools(banditSince);

  remember(await contextualPhase());

  const promoted = await call('POST', `/v1/deployments/${BANDIT}/promote`, { variant: 'v3' });
  console.log(`\n== promote: ${BANDIT} is now ${JSON.stringify(promoted.strategy)} (spec version ${promoted.version})`);
  const rolledBack = await call('POST', `/v1/deployments/${BANDIT}/rollback`);
  console.log(`== rollback: back to ${JSON.stringify(rolledBack.strategy)} (spec version ${rolledBack.version})`);

  const events = await countEvents(all);
  console.log(`\n== Kafka: ${events.predictions}/${all.size} prediction events found on the predictions topic, ${events.shadowRequests} shadow requests`);
  if (events.predictions !== all.size) throw new Error('some prediction events are missing');
  console.log('\nDemo finished. The stack keeps running: try the API (docs/api.md), then `npm run down`.');
}

main().catch((error) => {
  console.error(`demo failed: ${(error as Error).message}`);
  process.exit(1);
});
