import fc from 'fast-check';
import { topicNames } from '@switchyard/contracts';
import { groundTruth, randomFeatures, seededRng, toInferInputs } from '@switchyard/demo-models';
import { MAX_ERROR_BODY_CHARS } from '@switchyard/runtime';
import { banditUpdaterService } from '../apps/bandit-updater/src/bandit-updater.service-definition';
import { feedbackJoinerService } from '../apps/feedback-joiner/src/feedback-joiner.service-definition';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { routerService } from '../apps/router/src/router.service-definition';
import { shadowWorkerService } from '../apps/shadow-worker/src/shadow-worker.service-definition';
import { groupCaughtUp, isolation, producerFor, readThrough, testKafka } from './support/kafka';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

/** Cases per HTTP route and records per topic; the seed makes a failure reproducible. */
const CASES = 150;
const SEED = 20261129;

/** JSON texts that broke a reader or a script once (issues #25, #26): deep nesting, numbers past or near a double's limits, prototype keys. */
const HOSTILE_JSON = [
  `{"requestId":"r-1","label":${'['.repeat(8000)}${']'.repeat(8000)}}`,
  `{"inputs":${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}}`,
  '{"requestId":"r-1","reward":1e200}',
  '{"requestId":"r-1","reward":1e400}',
  '[{"requestId":"r-1","label":"1e200"}]',
  '{"requestId":"r-1","reward":-1.7976931348623157e308}',
  '{"inputs":[1e308,-1e308,5e-324]}',
  '{"__proto__":{"polluted":true},"inputs":[1]}',
  // Issue #25, bounded work per request: 14 000 tiny tensors (1.7 s of event loop and a 10.8 MB error once), a shape of 10^10 elements,
  // a megabyte-long element quoted in a problem, a feedback batch whose every item has a problem.
  `{"inputs":[${Array.from({ length: 14000 }, () => '{"name":"x","shape":[1],"datatype":"FP32","data":[1]}').join(',')}]}`,
  '{"inputs":[{"name":"x","shape":[100000,100000],"datatype":"FP32","data":[1]}]}',
  `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":["${'y'.repeat(500000)}"]}]}`,
  `[${Array.from({ length: 1000 }, (_, i) => `{"requestId":"bad id ${i} ${'z'.repeat(200)}","label":1}`).join(',')}]`,
];

/** Printable ASCII: what an HTTP header value may hold (fetch refuses the rest before sending). */
const headerText = (maxLength: number) => fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength });

/**
 * Property-based fuzzing over the real services: random and mutated bodies, names and
 * headers on every HTTP route, random records and headers on every consumed topic. Every
 * answer must be a 4xx with a reason or a DLQ record; nothing may answer 5xx, crash or
 * stop serving a well-formed request. The table it prints is docs/security.md's.
 */
describe('fuzz: every route and topic refuses bad input with a reason, and keeps serving', () => {
  const ids = isolation('fuzz');
  const topics = topicNames(ids.topicPrefix);
  const tally = new Map<string, { cases: number; answers: Set<string>; fiveHundreds: number | '–'; crashes: number }>();
  const groups = {
    ingress: `router-${ids.groupSuffix}`,
    shadow: `shadow-${ids.groupSuffix}`,
    join: `joiner-${ids.groupSuffix}`,
    update: `updater-${ids.groupSuffix}`,
  };
  const { modelServer, router, shadowWorker, joiner, updater, dlq } = useStack({
    ids,
    services: {
      modelServer: modelServerService,
      // Its own ingress group: sharing the default one with any other router would hand this one other topics' partitions.
      router: [routerService, { INGRESS_GROUP: groups.ingress }],
      shadowWorker: [shadowWorkerService, { SHADOW_GROUP: groups.shadow }],
      joiner: [feedbackJoinerService, { JOIN_GROUP: groups.join }],
      updater: [banditUpdaterService, { UPDATE_GROUP: groups.update }],
    },
    collect: { dlq: 'dlq' },
  });
  const services = [modelServer, router, shadowWorker, joiner, updater];

  const goodSpec = () => ({
    variants: [
      { name: 'v1', url: modelServer.url, model: 'churn-v1' },
      { name: 'v2', url: modelServer.url, model: 'churn-v2' },
    ],
    strategy: { type: 'shadow', primary: 'v1', shadows: ['v2'] },
    guardrails: { minSamples: 50 },
  });

  beforeAll(async () => {
    const put = await http('PUT', `${router.url}/v1/deployments/fuzz`, goodSpec());
    if (put.status !== 200) throw new Error(`PUT: ${put.status} ${JSON.stringify(put.body)}`);
  });

  afterAll(async () => {
    const rows = [...tally].map(([what, t]) => `| ${what} | ${t.cases} | ${t.answers.size} | ${t.fiveHundreds} | ${t.crashes} |`);
    process.stdout.write(`fuzz results:\n| input | cases | distinct answers | 5xx | crashes |\n|---|---:|---:|---:|---:|\n${rows.join('\n')}\n`);
  });

  const rng = seededRng(SEED);
  /** Services that no longer answer ready (a crashed consumer, a dead process): each counts as a crash. */
  async function crashes(): Promise<number> {
    const ready = await Promise.all(services.map(async (service) => (await http('GET', `${service.url}/readyz`).catch(() => ({ status: 0 }))).status));
    return ready.filter((status) => status !== 200).length;
  }

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
      if (!slots.length) return replacement; // an empty body: anything in its place
      const [parent, key] = slots[pick % slots.length];
      parent[key] = replacement;
      return value;
    });
  }

  const features = toInferInputs([0.1, 0.2, 0.3, 0.4]);
  const name = (path: string) => (n: string) => `/v1/deployments/${n}${path}`;
  /** Every route of the router's API; `valid` is the well-formed body mutations start from (none: a route without one). */
  const routes: { name: string; method: string; path: (name: string) => string; valid?: () => unknown }[] = [
    { name: 'PUT /v1/deployments/{name}', method: 'PUT', path: name(''), valid: goodSpec },
    { name: 'GET /v1/deployments/{name}', method: 'GET', path: name('') },
    { name: 'GET /v1/deployments/{name}/history', method: 'GET', path: name('/history') },
    { name: 'DELETE /v1/deployments/{name}', method: 'DELETE', path: name('') },
    { name: 'POST /v1/deployments/{name}/predict', method: 'POST', path: name('/predict'), valid: () => ({ inputs: features, unitKey: 'u-1' }) },
    { name: 'POST /v2/models/{name}/infer', method: 'POST', path: (n) => `/v2/models/${n}/infer`, valid: () => ({ id: 'r-1', inputs: features }) },
    { name: 'POST /v1/feedback', method: 'POST', path: () => '/v1/feedback', valid: () => [{ requestId: 'r-1', label: 1 }] },
    { name: 'POST /v1/deployments/{name}/promote', method: 'POST', path: name('/promote'), valid: () => ({ variant: 'v1' }) },
    { name: 'POST /v1/deployments/{name}/rollback', method: 'POST', path: name('/rollback'), valid: () => ({}) },
    { name: 'POST /v1/deployments/{name}/plan/pause', method: 'POST', path: name('/plan/pause'), valid: () => ({}) },
    { name: 'POST /v1/deployments/{name}/plan/resume', method: 'POST', path: name('/plan/resume'), valid: () => ({}) },
    { name: 'POST /v1/deployments/{name}/plan/abort', method: 'POST', path: name('/plan/abort'), valid: () => ({}) },
    { name: 'POST /v1/deployments/{name}/evaluate', method: 'POST', path: name('/evaluate'), valid: () => ({ policy: { type: 'single', variant: 'v1' } }) },
    { name: 'GET /v1/deployments/{name}/verdict', method: 'GET', path: name('/verdict') },
    {
      name: 'POST /v1/flagger/{name}/{hook}',
      method: 'POST',
      path: (n) => `/v1/flagger/${n}/confirm-promotion`,
      valid: () => ({ name: 'fuzz', namespace: 'models', phase: 'Progressing', checksum: 'c0ffee', metadata: { token: 'x' } }),
    },
  ];

  it.each(routes)('$name: random and mutated bodies, names and headers get a 4xx with a reason', async (route) => {
    const record = { cases: 0, answers: new Set<string>(), fiveHundreds: 0, crashes: 0 };
    tally.set(route.name, record);
    const serverErrors: string[] = [];
    const name = fc.oneof(fc.constant('fuzz'), fc.constant('missing'), fc.string({ maxLength: 80 }).map(encodeURIComponent));
    const body = route.valid
      ? fc.oneof(
          fc.anything({ maxDepth: 4 }),
          mutated(route.valid),
          fc.string().map((text) => ({ raw: text })),
          fc.constantFrom(...HOSTILE_JSON).map((text) => ({ raw: text })),
        )
      : fc.constant(undefined);
    const adminKey = process.env.ADMIN_API_KEY!.split(',')[0];
    // Mostly the right key, so that bodies get past the guard; else none, a wrong or a garbled one.
    const authorization = fc.oneof(
      { weight: 6, arbitrary: fc.constant(`Bearer ${adminKey}`) },
      fc.constant(undefined),
      headerText(40).map((text) => `Bearer ${text}`),
      headerText(60),
    );
    const contentType = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.constantFrom(
          'application/json',
          'text/plain',
          'application/json; charset=latin1',
          'application/x-www-form-urlencoded',
          'application/merge-patch+json',
        ),
      },
      headerText(40),
    );
    const extraHeader = fc.option(fc.tuple(fc.constantFrom('x-request-id', 'accept', 'x-forwarded-for', 'content-encoding'), headerText(60)));
    const cases = fc.sample(fc.tuple(name, body, contentType, authorization, extraHeader), { numRuns: CASES, seed: SEED });
    for (const [deployment, value, type, auth, extra] of cases) {
      // Only the fuzz deployment's own spec may be overwritten or deleted: those go to a scratch name.
      const target = (route.method === 'PUT' || route.method === 'DELETE') && deployment === 'fuzz' ? 'scratch' : deployment;
      const raw =
        value === undefined
          ? undefined
          : value !== null && typeof value === 'object' && 'raw' in (value as object)
            ? String((value as { raw: unknown }).raw)
            : (JSON.stringify(value) ?? 'undefined');
      const headers: Record<string, string> = {
        ...(raw !== undefined && { 'content-type': type }),
        ...(auth !== undefined && { authorization: auth }),
        ...(extra && { [extra[0]]: extra[1] }),
      };
      const response = await fetch(`${router.url}${route.path(target)}`, { method: route.method, headers, body: raw });
      const text = await response.text();
      record.cases++;
      if (response.status >= 500) {
        record.fiveHundreds++;
        serverErrors.push(`${route.method} ${route.path(target)} ${JSON.stringify(headers)} ${raw?.slice(0, 300)} → ${response.status} ${text.slice(0, 200)}`);
      }
      let message: unknown;
      try {
        // `/v2` answers errors in the Open Inference Protocol's shape, `{"error": "…"}`.
        const body = JSON.parse(text);
        message = route.path('x').startsWith('/v2/') ? body.error : body.message;
      } catch {
        message = undefined;
      }
      if (response.status >= 400) {
        expect(typeof message === 'string' && message.length > 0 ? 'has a reason' : `no reason in ${text.slice(0, 200)}`).toBe('has a reason');
        expect(text.length <= MAX_ERROR_BODY_CHARS ? 'capped' : `${text.length} characters: ${text.slice(0, 200)}`).toBe('capped');
        record.answers.add(
          `${response.status} ${String(message)
            .replace(/[0-9a-f-]{8,}|"[^"]*"|\d+/g, '…')
            .slice(0, 60)}`,
        );
      } else record.answers.add(String(response.status));
    }
    record.crashes = await crashes();
    expect(serverErrors).toEqual([]);
    expect(record.crashes).toBe(0);
    await wellFormedStillWorks();
  });

  it('every consumed topic sends random records to the DLQ with a reason and keeps consuming', async () => {
    const record = { cases: 0, answers: new Set<string>(), fiveHundreds: '–' as const, crashes: 0 };
    const consumed = [topics.requests, topics.feedback, topics.predictions, topics.shadowRequests, topics.shadowPredictions, topics.joined];
    // A reply-to header among the router's own topics, a missing one, garbage, or none.
    const replyTo = fc.option(
      fc.oneof(fc.constantFrom(topics.responses, `${topics.responses}.missing`, topics.joined, topics.feedback, topics.requests), headerText(40)),
    );
    const records = fc.sample(
      fc.tuple(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.anything({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
          fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1')),
          fc.constantFrom(...HOSTILE_JSON),
        ),
        replyTo,
      ),
      { numRuns: CASES, seed: SEED },
    );
    const producer = await producerFor(testKafka());
    const before = dlq.messages.length;
    try {
      const messages = records.map(([value, reply], i) => ({ key: `fuzz-${i}`, value, headers: reply === null ? {} : { 'reply-to': reply } }));
      // Sends of at most ~512 KiB: a record batch past the broker's 1 MiB is refused whole (the hostile bodies run to 770 KB).
      const sends: (typeof messages)[] = [[]];
      let size = 0;
      for (const message of messages) {
        if (size + message.value.length > 512 * 1024 && sends[sends.length - 1].length) {
          sends.push([]);
          size = 0;
        }
        sends[sends.length - 1].push(message);
        size += message.value.length;
      }
      for (const topic of consumed) for (const batch of sends) await producer.send({ topic, messages: batch });
    } finally {
      await producer.disconnect();
    }
    record.cases = records.length * consumed.length;
    // Every consumer past the batch, then the DLQ read to its end: the count is the run's, not a moment's.
    const kafka = testKafka();
    await waitFor(
      async () =>
        (await groupCaughtUp(kafka, groups.ingress, [topics.requests])) &&
        (await groupCaughtUp(kafka, groups.shadow, [topics.shadowRequests])) &&
        (await groupCaughtUp(kafka, groups.join, [topics.predictions, topics.shadowPredictions, topics.feedback])) &&
        (await groupCaughtUp(kafka, groups.update, [topics.joined])),
      { timeoutMs: 60000, what: 'every consumer past the fuzzed records' },
    );
    await readThrough(kafka, topics.dlq, dlq);
    // A random record may by chance be valid (and consumed): the DLQ must hold nearly all of them, each with its source topic and a reason.
    const dead = dlq.messages.slice(before);
    tally.set(
      `Kafka records on requests, feedback, predictions, shadow-requests, shadow-predictions, joined (${dead.length} of ${record.cases} DLQ'd with the reason)`,
      record,
    );
    expect(dead.length).toBeGreaterThanOrEqual(record.cases * 0.95);
    for (const m of dead) {
      expect(consumed).toContain(m.value.topic);
      expect(typeof m.value.error).toBe('string');
      record.answers.add(`${m.value.topic.slice(ids.topicPrefix.length)}: ${m.value.error.replace(/[0-9a-f-]{8,}|"[^"]*"|\d+/g, '…').slice(0, 50)}`);
    }
    record.crashes = await crashes();
    expect(record.crashes).toBe(0);
    await wellFormedStillWorks();
  });
});
