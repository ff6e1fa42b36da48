import fc from 'fast-check';
import { topicNames } from '@switchyard/contracts';
import { groundTruth, randomFeatures, seededRng, toInferInputs } from '@switchyard/demo-models';
import { banditUpdaterService } from '../apps/bandit-updater/src/bandit-updater.service-definition';
import { feedbackJoinerService } from '../apps/feedback-joiner/src/feedback-joiner.service-definition';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { routerService } from '../apps/router/src/router.service-definition';
import { shadowWorkerService } from '../apps/shadow-worker/src/shadow-worker.service-definition';
import { collect, Collector, isolation, producerFor, testKafka } from './support/kafka';
import { deleteByPrefix } from './support/redis';
import { http, RunningService, startService } from './support/services';
import { waitFor } from './support/wait';

/** Cases per HTTP route and records per topic; the seed makes a failure reproducible. */
const CASES = 150;
const SEED = 20261129;

/**
 * Property-based fuzzing over the real services: random and mutated bodies, names and
 * headers on every HTTP route, random records on every consumed topic. Every answer must
 * be a 4xx with a reason or a DLQ record; nothing may answer 5xx, crash or stop serving
 * a well-formed request.
 */
describe('fuzz: every route and topic refuses bad input with a reason, and keeps serving', () => {
  const ids = isolation('fuzz');
  const topics = topicNames(ids.topicPrefix);
  const env = { TOPIC_PREFIX: ids.topicPrefix, REDIS_PREFIX: ids.redisPrefix };
  const services: RunningService[] = [];
  let modelServer: RunningService;
  let router: RunningService;
  let dlq: Collector;
  const tally = new Map<string, { cases: number; answers: Set<string>; fiveHundreds: number }>();

  const goodSpec = () => ({
    variants: [
      { name: 'v1', url: modelServer.url, model: 'churn-v1' },
      { name: 'v2', url: modelServer.url, model: 'churn-v2' },
    ],
    strategy: { type: 'shadow', primary: 'v1', shadows: ['v2'] },
    guardrails: { minSamples: 50 },
  });

  beforeAll(async () => {
    modelServer = await startService(modelServerService);
    // Its own ingress group: sharing the default one with any other router would hand this one other topics' partitions.
    router = await startService(routerService, { ...env, INGRESS_GROUP: `router-${ids.groupSuffix}` });
    services.push(modelServer, router);
    services.push(await startService(shadowWorkerService, { ...env, SHADOW_GROUP: `shadow-${ids.groupSuffix}` }));
    services.push(await startService(feedbackJoinerService, { ...env, JOIN_GROUP: `joiner-${ids.groupSuffix}` }));
    services.push(await startService(banditUpdaterService, { ...env, UPDATE_GROUP: `updater-${ids.groupSuffix}` }));
    const put = await http('PUT', `${router.url}/v1/deployments/fuzz`, goodSpec());
    if (put.status !== 200) throw new Error(`PUT: ${put.status} ${JSON.stringify(put.body)}`);
    dlq = await collect(testKafka(), topics.dlq);
  });

  afterAll(async () => {
    await dlq?.stop();
    for (const service of services.reverse()) await service.close();
    await deleteByPrefix(ids.redisPrefix);
    const rows = [...tally].map(([what, t]) => `| ${what} | ${t.cases} | ${t.answers.size} | ${t.fiveHundreds} |`);
    process.stdout.write(`fuzz results:\n| input | cases | distinct answers | 5xx |\n|---|---:|---:|---:|\n${rows.join('\n')}\n`);
  });

  const rng = seededRng(SEED);
  async function wellFormedStillWorks(): Promise<void> {
    const features = randomFeatures(rng);
    const answer = await http('POST', `${router.url}/v1/deployments/fuzz/predict`, { inputs: toInferInputs(features) });
    expect(answer.status).toBe(200);
    expect((await http('POST', `${router.url}/v1/feedback`, { requestId: answer.body.requestId, label: groundTruth(features) })).status).toBe(202);
  }

  /** A JSON value that is the well-formed one with one field, at any depth, replaced by anything. */
  function mutated(valid: () => unknown): fc.Arbitrary<unknown> {
    return fc.tuple(fc.nat(), fc.anything({ withNullPrototype: true, maxDepth: 3 })).map(([pick, replacement]) => {
      const value = JSON.parse(JSON.stringify(valid()));
      const slots: [Record<string, unknown>, string][] = [];
      const walk = (node: unknown) => {
        if (node === null || typeof node !== 'object') return;
        for (const key of Object.keys(node)) {
          slots.push([node as Record<string, unknown>, key]);
          walk((node as Record<string, unknown>)[key]);
        }
      };
      walk(value);
      const [parent, key] = slots[pick % slots.length];
      parent[key] = replacement;
      return value;
    });
  }

  const features = toInferInputs([0.1, 0.2, 0.3, 0.4]);
  const routes: { name: string; method: string; path: (name: string) => string; valid: () => unknown }[] = [
    { name: 'PUT /v1/deployments/{name}', method: 'PUT', path: (n) => `/v1/deployments/${n}`, valid: goodSpec },
    {
      name: 'POST /v1/deployments/{name}/predict',
      method: 'POST',
      path: (n) => `/v1/deployments/${n}/predict`,
      valid: () => ({ inputs: features, unitKey: 'u-1' }),
    },
    { name: 'POST /v2/models/{name}/infer', method: 'POST', path: (n) => `/v2/models/${n}/infer`, valid: () => ({ id: 'r-1', inputs: features }) },
    { name: 'POST /v1/feedback', method: 'POST', path: () => '/v1/feedback', valid: () => [{ requestId: 'r-1', label: 1 }] },
    { name: 'POST /v1/deployments/{name}/promote', method: 'POST', path: (n) => `/v1/deployments/${n}/promote`, valid: () => ({ variant: 'v1' }) },
    {
      name: 'POST /v1/deployments/{name}/evaluate',
      method: 'POST',
      path: (n) => `/v1/deployments/${n}/evaluate`,
      valid: () => ({ policy: { type: 'single', variant: 'v1' } }),
    },
  ];

  it.each(routes)('$name: random and mutated bodies and names get a 4xx with a reason', async (route) => {
    const record = { cases: 0, answers: new Set<string>(), fiveHundreds: 0 };
    tally.set(route.name, record);
    const serverErrors: string[] = [];
    const name = fc.oneof(fc.constant('fuzz'), fc.constant('missing'), fc.string({ maxLength: 80 }).map(encodeURIComponent));
    const body = fc.oneof(
      fc.anything({ maxDepth: 4 }),
      mutated(route.valid),
      fc.string().map((text) => ({ raw: text })),
    );
    const cases = fc.sample(fc.tuple(name, body, fc.constantFrom('application/json', 'text/plain', 'application/json; charset=latin1')), {
      numRuns: CASES,
      seed: SEED,
    });
    for (const [deployment, value, contentType] of cases) {
      // Only the fuzz deployment's own spec may be overwritten: a mutated PUT is sent to a scratch name.
      const target = route.method === 'PUT' && deployment === 'fuzz' ? 'scratch' : deployment;
      const raw =
        value !== null && typeof value === 'object' && 'raw' in (value as object)
          ? String((value as { raw: unknown }).raw)
          : (JSON.stringify(value) ?? 'undefined');
      const response = await fetch(`${router.url}${route.path(target)}`, {
        method: route.method,
        headers: { 'content-type': contentType, authorization: `Bearer ${process.env.ADMIN_API_KEY!.split(',')[0]}` },
        body: raw,
      });
      const text = await response.text();
      record.cases++;
      if (response.status >= 500) {
        record.fiveHundreds++;
        serverErrors.push(`${route.method} ${route.path(target)} ${raw.slice(0, 300)} → ${response.status} ${text.slice(0, 200)}`);
      }
      let message: unknown;
      try {
        message = JSON.parse(text).message;
      } catch {
        message = undefined;
      }
      if (response.status >= 400) {
        expect(typeof message === 'string' && message.length > 0 ? 'has a reason' : `no reason in ${text.slice(0, 200)}`).toBe('has a reason');
        record.answers.add(
          `${response.status} ${String(message)
            .replace(/[0-9a-f-]{8,}|"[^"]*"|\d+/g, '…')
            .slice(0, 60)}`,
        );
      } else record.answers.add(String(response.status));
    }
    expect(serverErrors).toEqual([]);
    await wellFormedStillWorks();
  });

  it('every consumed topic sends random records to the DLQ with a reason and keeps consuming', async () => {
    const record = { cases: 0, answers: new Set<string>(), fiveHundreds: 0 };
    tally.set('Kafka records (requests, feedback, predictions, shadow-requests, shadow-predictions, joined)', record);
    const consumed = [topics.requests, topics.feedback, topics.predictions, topics.shadowRequests, topics.shadowPredictions, topics.joined];
    const values = fc.sample(
      fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.anything({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
        fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1')),
      ),
      {
        numRuns: CASES,
        seed: SEED,
      },
    );
    const producer = await producerFor(testKafka());
    const before = dlq.messages.length;
    try {
      for (const topic of consumed) {
        await producer.send({ topic, messages: values.map((value, i) => ({ key: `fuzz-${i}`, value, headers: { 'reply-to': `${topics.responses}` } })) });
      }
    } finally {
      await producer.disconnect();
    }
    record.cases = values.length * consumed.length;
    // A random record may by chance be valid: every one is either consumed as valid or DLQ'd; the
    // DLQ must hold nearly all of them, each with its source topic and a reason.
    await waitFor(() => dlq.messages.length - before >= record.cases * 0.95, { timeoutMs: 60000, what: 'the DLQ records' });
    for (const m of dlq.messages.slice(before)) {
      expect(consumed).toContain(m.value.topic);
      expect(typeof m.value.error).toBe('string');
      record.answers.add(`${m.value.topic.slice(ids.topicPrefix.length)}: ${m.value.error.replace(/[0-9a-f-]{8,}|"[^"]*"|\d+/g, '…').slice(0, 50)}`);
    }
    for (const service of services) expect((await http('GET', `${service.url}/readyz`)).status).toBe(200);
    await wellFormedStillWorks();
  });
});
