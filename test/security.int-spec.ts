import { readFileSync } from 'node:fs';
import { AddressInfo, createServer, Socket } from 'node:net';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { envelope, MAX_DLQ_KEY_CHARS, MAX_DLQ_VALUE_CHARS, MAX_FEEDBACK_BATCH, topicNames } from '@switchyard/contracts';
import { groundTruth, randomFeatures, seededRng, toInferInputs } from '@switchyard/demo-models';
import { UrlAllowlist } from '@switchyard/model-client';
import { assignCanary } from '@switchyard/strategies';
import { banditUpdaterService } from '../apps/bandit-updater/src/bandit-updater.service-definition';
import { feedbackJoinerService } from '../apps/feedback-joiner/src/feedback-joiner.service-definition';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { routerService } from '../apps/router/src/router.service-definition';
import { collect, isolation, producerFor, testKafka } from './support/kafka';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

const KEYS = ['key-one-0123456789abcdef', 'key-two-0123456789abcdef'];
const FEEDBACK_KEY = 'feedback-key-0123456789';
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const NONE = { authorization: '' };

/** Closed by default, SSRF-safe, size-limited: the router's answers to what it must refuse. */
describe('security: the router refuses what it must, with the reason', () => {
  const ids = isolation('security');
  const env = { KAFKA_INGRESS: 'false' };
  const { modelServer, guarded, redis, start, spawn } = useStack({
    ids,
    redis: true,
    services: {
      modelServer: modelServerService,
      guarded: [routerService, { ...env, ADMIN_API_KEY: KEYS.join(','), FEEDBACK_API_KEY: FEEDBACK_KEY, VARIANT_URL_ALLOW: 'models.example:9000,10.9.0.0/16' }],
    },
  });

  const spec = (url = modelServer.url, model = 'churn-v1') => ({
    variants: [
      { name: 'v1', url, model },
      { name: 'v2', url: modelServer.url, model: 'churn-v2' },
    ],
    strategy: { type: 'single', variant: 'v1' },
  });

  it('answers 401 on every control-plane route without a valid key, and takes either key of a rotation', async () => {
    const routes: [string, string, unknown?][] = [
      ['PUT', '/v1/deployments/locked', spec()],
      ['DELETE', '/v1/deployments/locked'],
      ['POST', '/v1/deployments/locked/promote', { variant: 'v1' }],
      ['POST', '/v1/deployments/locked/rollback'],
      ['POST', '/v1/deployments/locked/plan/pause'],
      ['POST', '/v1/deployments/locked/plan/resume'],
      ['POST', '/v1/deployments/locked/plan/abort'],
    ];
    for (const [method, path, body] of routes) {
      for (const headers of [NONE, bearer('wrong-key-0123456789abcdef'), { authorization: KEYS[0] }]) {
        const answer = await http(method, `${guarded.url}${path}`, body, headers);
        expect([method, path, answer.status, answer.body.message]).toEqual([
          method,
          path,
          401,
          'control-plane routes need "Authorization: Bearer <ADMIN_API_KEY>"',
        ]);
      }
    }
    expect((await http('PUT', `${guarded.url}/v1/deployments/locked`, spec(), bearer(KEYS[0]))).status).toBe(200);
    expect((await http('PUT', `${guarded.url}/v1/deployments/locked`, spec(), bearer(KEYS[1]))).status).toBe(200);
    // Reads and predictions need no key.
    expect((await http('GET', `${guarded.url}/v1/deployments/locked`, undefined, NONE)).status).toBe(200);
    expect((await http('POST', `${guarded.url}/v1/deployments/locked/predict`, { inputs: toInferInputs([0.1, 0.2, 0.3, 0.4]) }, NONE)).status).toBe(200);
  });

  it('is closed when started without a key, and open only when told ADMIN_AUTH=off (FEEDBACK_AUTH=off for feedback)', async () => {
    const closed = await start(routerService, { ...env, ADMIN_API_KEY: '' });
    const open = await start(routerService, { ...env, ADMIN_API_KEY: '', ADMIN_AUTH: 'off', FEEDBACK_AUTH: 'off' });
    const refused = await http('PUT', `${closed.url}/v1/deployments/anyone`, spec(), NONE);
    expect(refused.status).toBe(401);
    expect(refused.body.message).toMatch(/^the control plane is closed: this router has no ADMIN_API_KEY/);
    const unlabelled = await http('POST', `${closed.url}/v1/feedback`, { requestId: 'r-1', label: 1 }, NONE);
    expect(unlabelled.status).toBe(401);
    expect(unlabelled.body.message).toMatch(/^feedback is closed: this router has no FEEDBACK_API_KEY nor ADMIN_API_KEY/);
    expect((await http('PUT', `${open.url}/v1/deployments/anyone`, spec(), NONE)).status).toBe(200);
    expect((await http('POST', `${open.url}/v1/feedback`, { requestId: 'r-1', label: 1 }, NONE)).status).toBe(202);
  });

  it('refuses a variant on a host outside the allowlist, and allows the listed ones', async () => {
    for (const url of ['http://10.0.0.5:9000', 'http://169.254.169.254', 'http://models.example:9001']) {
      const answer = await http('PUT', `${guarded.url}/v1/deployments/ssrf`, spec(url), bearer(KEYS[0]));
      expect(answer.status).toBe(400);
      expect(answer.body.problems).toEqual([
        expect.stringMatching(/^variants\.0\.url: host ".+" is not allowed: variant URLs may name the loopback range and VARIANT_URL_ALLOW/),
      ]);
    }
    for (const url of ['http://models.example:9000', 'http://10.9.3.4:8080']) {
      // No model answers there: force skips the readiness probe, the allowlist is what is tested.
      expect((await http('PUT', `${guarded.url}/v1/deployments/ssrf?force=true`, spec(url), bearer(KEYS[0]))).status).toBe(200);
    }
  });

  it('answers 413 to a body past the limit, and 400 to a label past its own', async () => {
    const big = await http('POST', `${guarded.url}/v1/deployments/locked/predict`, { inputs: 'x'.repeat(2 * 1024 * 1024) }, NONE);
    expect(big.status).toBe(413);
    const label = await http('POST', `${guarded.url}/v1/feedback`, { requestId: 'r-1', label: 'y'.repeat(20 * 1024) }, bearer(FEEDBACK_KEY));
    expect(label.status).toBe(400);
    expect(label.body.problems).toEqual(['label must be at most 16384 bytes of JSON']);
  });

  it('answers 400 to a feedback batch, a unit key or a request id past its limit, naming the rule', async () => {
    const batch = Array.from({ length: MAX_FEEDBACK_BATCH + 1 }, (_, i) => ({ requestId: `r-${i}`, label: 1 }));
    const tooMany = await http('POST', `${guarded.url}/v1/feedback`, batch, bearer(FEEDBACK_KEY));
    expect([tooMany.status, tooMany.body.problems]).toEqual([
      400,
      [`send 1 to ${MAX_FEEDBACK_BATCH} feedback records per request, got ${MAX_FEEDBACK_BATCH + 1}`],
    ]);
    const inputs = toInferInputs([0.1, 0.2, 0.3, 0.4]);
    const predict = (body: object) => http('POST', `${guarded.url}/v1/deployments/locked/predict`, { inputs, ...body }, NONE);
    const longKey = await predict({ unitKey: 'u'.repeat(257) });
    expect([longKey.status, longKey.body.problems]).toEqual([400, ['unitKey must be shorter than or equal to 256 characters']]);
    const requestIdRule = 'requestId must be 1-128 letters, digits, ".", "_", ":" or "-"';
    for (const requestId of ['r'.repeat(129), 'sy:{x} *', '']) {
      const answer = await predict({ requestId });
      expect([requestId, answer.status, answer.body.problems]).toEqual([requestId, 400, [requestIdRule]]);
    }
    const feedback = await http('POST', `${guarded.url}/v1/feedback`, { requestId: 'r'.repeat(129), label: 1 }, bearer(FEEDBACK_KEY));
    expect([feedback.status, feedback.body.problems]).toEqual([400, [requestIdRule]]);
  });

  it('takes feedback only with the feedback key or an admin key, and refuses a label for a deployment that does not exist', async () => {
    for (const headers of [NONE, bearer('wrong-key-0123456789abcdef'), { authorization: FEEDBACK_KEY }]) {
      const answer = await http('POST', `${guarded.url}/v1/feedback`, { requestId: 'r-2', label: 1 }, headers);
      expect([answer.status, answer.body.message]).toEqual([401, 'feedback needs "Authorization: Bearer <FEEDBACK_API_KEY>" (or an ADMIN_API_KEY)']);
    }
    for (const key of [FEEDBACK_KEY, ...KEYS]) {
      expect((await http('POST', `${guarded.url}/v1/feedback`, { requestId: 'r-2', label: 1 }, bearer(key))).status).toBe(202);
    }
    expect((await http('PUT', `${guarded.url}/v1/deployments/labelled`, spec(), bearer(KEYS[0]))).status).toBe(200);
    const known = await http('POST', `${guarded.url}/v1/feedback`, { requestId: 'r-3', deployment: 'labelled', label: 1 }, bearer(FEEDBACK_KEY));
    expect(known.status).toBe(202);
    const unknown = await http(
      'POST',
      `${guarded.url}/v1/feedback`,
      [
        { requestId: 'r-4', deployment: 'labelled', label: 1 },
        { requestId: 'r-5', deployment: 'nowhere', label: 1 },
      ],
      bearer(FEEDBACK_KEY),
    );
    expect([unknown.status, unknown.body.message]).toEqual([404, 'feedback names deployments that do not exist: "nowhere"']);
  });

  it('answers 409 to a client request id already used for the deployment, and takes it for another deployment', async () => {
    expect((await http('PUT', `${guarded.url}/v1/deployments/unique`, spec(), bearer(KEYS[0]))).status).toBe(200);
    expect((await http('PUT', `${guarded.url}/v1/deployments/unique-too`, spec(), bearer(KEYS[0]))).status).toBe(200);
    const body = { requestId: 'once-only', inputs: toInferInputs([0.1, 0.2, 0.3, 0.4]) };
    expect((await http('POST', `${guarded.url}/v1/deployments/unique/predict`, body, NONE)).status).toBe(200);
    const again = await http('POST', `${guarded.url}/v1/deployments/unique/predict`, body, NONE);
    expect([again.status, again.body.message]).toEqual([
      409,
      'requestId "once-only" was already used for deployment "unique"; send each prediction with its own id',
    ]);
    expect((await http('POST', `${guarded.url}/v1/deployments/unique-too/predict`, body, NONE)).status).toBe(200);
  });

  it('never returns the credentials of a variant URL: masked in every answer of the deployments API', async () => {
    const url = 'http://scott:tiger-s3cret@models.example:9000/';
    expect((await http('PUT', `${guarded.url}/v1/deployments/keyed?force=true`, spec(url), bearer(KEYS[0]))).body.variants[0].url).toBe(
      'http://scott:***@models.example:9000/',
    );
    const answers = [
      await http('GET', `${guarded.url}/v1/deployments/keyed`, undefined, NONE),
      await http('GET', `${guarded.url}/v1/deployments`, undefined, NONE),
      await http('GET', `${guarded.url}/v1/deployments/keyed/history`, undefined, NONE),
      await http('POST', `${guarded.url}/v1/deployments/keyed/promote`, { variant: 'v2' }, bearer(KEYS[0])),
      await http('POST', `${guarded.url}/v1/deployments/keyed/rollback`, undefined, bearer(KEYS[0])),
    ];
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(JSON.stringify(answer.body)).not.toContain('tiger-s3cret');
    }
    expect(answers[0].body.variants[0].url).toBe('http://scott:***@models.example:9000/');
    expect(answers[1].body.deployments.find((d: { name: string }) => d.name === 'keyed').variants[0].url).toBe('http://scott:***@models.example:9000/');
  });

  it('does not serve a spec written straight to the spec log past the allowlist: skipped with the reason, counted', async () => {
    const topics = topicNames(ids.topicPrefix);
    const body = { name: 'smuggled', ...spec('http://10.0.0.5:9000'), reward: { type: 'match' }, updatedAt: new Date().toISOString() };
    const producer = await producerFor(testKafka());
    try {
      await producer.send({
        topic: topics.deploymentSpecs,
        messages: [{ key: 'smuggled', value: JSON.stringify({ ...envelope('specChange'), deployment: 'smuggled', change: 'put', body }) }],
      });
    } finally {
      await producer.disconnect();
    }
    await waitFor(
      async () => /switchyard_router_specs_skipped_total\{deployment="smuggled"[^}]*\} [1-9]\d*$/m.test((await http('GET', `${guarded.url}/metrics`)).body),
      {
        what: 'the router to skip the smuggled spec',
      },
    );
    const answer = await http('POST', `${guarded.url}/v1/deployments/smuggled/predict`, { inputs: toInferInputs([0.1, 0.2, 0.3, 0.4]) }, NONE);
    expect([answer.status, answer.body.message]).toEqual([404, 'deployment "smuggled" does not exist']);
  });

  it("skips a spec written straight to the spec log that fails the spec's validation, in every process that folds the log: logged, counted, every other deployment served", async () => {
    const topics = topicNames(ids.topicPrefix);
    // Valid in shape, but its strategy names a variant it does not have (what a PUT answers 400 for); and one without its updatedAt.
    const records = [
      { name: 'garbled', ...spec(), strategy: { type: 'single', variant: 'nowhere' }, reward: { type: 'match' }, updatedAt: new Date().toISOString() },
      { name: 'garbled-too', ...spec(), reward: { type: 'match' } },
    ].map((body) => ({ key: body.name, value: JSON.stringify({ ...envelope('specChange'), deployment: body.name, change: 'put', body }) }));
    const controller = await spawn('rollout-controller');
    const producer = await producerFor(testKafka());
    try {
      await producer.send({ topic: topics.deploymentSpecs, messages: records });
    } finally {
      await producer.disconnect();
    }
    const skipped = (metrics: string) =>
      Number(/^switchyard_records_skipped_total\{reader="spec-log",topic="[^"]*deployment-specs"[^}]*\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
    // The router here and a rollout controller of its own (another process: its own metrics) each skip both.
    for (const url of [guarded.url, controller.url]) {
      await waitFor(async () => skipped((await http('GET', `${url}/metrics`)).body) >= 2, { what: `${url} to skip both records` });
    }
    expect(await redis.exists(`${ids.redisPrefix}{garbled}:spec`, `${ids.redisPrefix}{garbled-too}:spec`)).toBe(0);
    const refused = await http('POST', `${guarded.url}/v1/deployments/garbled/predict`, { inputs: toInferInputs([0.1, 0.2, 0.3, 0.4]) }, NONE);
    expect([refused.status, refused.body.message]).toEqual([404, 'deployment "garbled" does not exist']);
    // A deployment created after it is still served and listed, by this router and its lists.
    expect((await http('PUT', `${guarded.url}/v1/deployments/after-garbled`, spec(modelServer.url), bearer(KEYS[0]))).status).toBe(200);
    const answer = await http('POST', `${guarded.url}/v1/deployments/after-garbled/predict`, { inputs: toInferInputs([0.1, 0.2, 0.3, 0.4]) }, NONE);
    expect(answer.status).toBe(200);
    const listed = await http('GET', `${guarded.url}/v1/deployments`, undefined, bearer(KEYS[0]));
    expect(listed.status).toBe(200);
    expect(listed.body.deployments.map((d: { name: string }) => d.name)).toEqual(expect.arrayContaining(['after-garbled']));
    expect(listed.body.deployments.map((d: { name: string }) => d.name)).not.toContain('garbled');
  });

  it('times out a variant within its timeoutMs while the TLS handshake never completes (connect is part of the call)', async () => {
    // Accepts connections and never says a word: a TLS client waits for the server's hello.
    const sockets: Socket[] = [];
    const blackHole = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const { port } = blackHole.address() as AddressInfo;
    try {
      const silent = {
        variants: [{ name: 'v1', url: `https://127.0.0.1:${port}`, model: 'churn-v1', timeoutMs: 300 }],
        strategy: { type: 'single', variant: 'v1' },
      };
      expect((await http('PUT', `${guarded.url}/v1/deployments/handshake?force=true`, silent, bearer(KEYS[0]))).status).toBe(200);
      const answer = await http('POST', `${guarded.url}/v1/deployments/handshake/predict`, { inputs: toInferInputs([0.1, 0.2, 0.3, 0.4]) }, NONE);
      // Before, undici waited out its own 10 s connect timeout: "model unreachable: UND_ERR_CONNECT_TIMEOUT".
      expect([answer.status, answer.body.message]).toEqual([502, 'variant "v1" failed: model did not answer within 300 ms']);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blackHole.close(resolve));
    }
  });

  it('refuses a prediction a router sent (a variant URL pointing back into a router) after one hop, and counts it', async () => {
    const loop = {
      variants: [{ name: 'v1', url: `${guarded.url}/v1/deployments/loop/predict`, model: 'loop', protocol: 'json' }],
      strategy: { type: 'single', variant: 'v1' },
    };
    expect((await http('PUT', `${guarded.url}/v1/deployments/loop`, loop, bearer(KEYS[0]))).status).toBe(200);
    const answer = await http('POST', `${guarded.url}/v1/deployments/loop/predict`, { inputs: [1] }, NONE);
    expect([answer.status, answer.body.message]).toEqual([502, 'variant "v1" failed: model answered 508']);
    // An OIP variant pointing back at a router's /v2 is refused the same way.
    const oipLoop = { ...loop, variants: [{ name: 'v1', url: guarded.url, model: 'loop', protocol: 'v2' }] };
    expect((await http('PUT', `${guarded.url}/v1/deployments/loop`, oipLoop, bearer(KEYS[0]))).status).toBe(200);
    const oip = await http('POST', `${guarded.url}/v2/models/loop/infer`, { inputs: toInferInputs([0.1, 0.2, 0.3, 0.4]) }, NONE);
    expect([oip.status, oip.body.error]).toEqual([502, 'variant "v1" failed: model answered 508']);
    const metrics = String((await http('GET', `${guarded.url}/metrics`)).body);
    expect(metrics).toMatch(/^switchyard_router_loops_refused_total\{[^}]*\} 2$/m);
  });

  it('says which variant failed and how, never what the model wrote', async () => {
    expect((await http('PUT', `${guarded.url}/v1/deployments/broken`, spec(modelServer.url, 'churn-broken'), bearer(KEYS[0]))).status).toBe(200);
    const answer = await http('POST', `${guarded.url}/v1/deployments/broken/predict`, { inputs: toInferInputs([0.1, 0.2, 0.3, 0.4]) }, NONE);
    expect(answer.status).toBe(502);
    expect(answer.body.message).toBe('variant "v1" failed: model answered 500');
  });
});

/** The same limits on Kafka: a record past one goes to the DLQ with the rule it broke, and nothing else happens. */
describe('security: Kafka records past a limit go to the DLQ with the reason', () => {
  const ids = isolation('security-kafka');
  const topics = topicNames(ids.topicPrefix);
  useStack({
    ids,
    services: {
      router: [routerService, { INGRESS_GROUP: `router-${ids.groupSuffix}` }],
      joiner: [feedbackJoinerService, { JOIN_GROUP: `joiner-${ids.groupSuffix}` }],
    },
  });

  it('dead-letters a long unit key, a bad request id, a reply-to into the joined topic and an oversized label', async () => {
    const dlq = await collect(testKafka(), topics.dlq);
    const producer = await producerFor(testKafka());
    const request = (requestId: string, extra: object = {}) =>
      JSON.stringify({ requestId, deployment: 'churn', inputs: toInferInputs([0.1, 0.2, 0.3, 0.4]), ...extra });
    try {
      await producer.send({
        topic: topics.requests,
        messages: [
          { key: 'long-key', value: request('long-key', { unitKey: 'u'.repeat(257) }) },
          { key: 'bad-id', value: request('sy:{x} *') },
          { key: 'into-joined', value: request('into-joined'), headers: { 'reply-to': topics.joined } },
        ],
      });
      await producer.send({
        topic: topics.feedback,
        messages: [
          { key: 'big-label', value: JSON.stringify({ requestId: 'big-label', label: 'y'.repeat(20 * 1024) }) },
          { key: 'long-id', value: JSON.stringify({ requestId: 'r'.repeat(129), label: 1 }) },
        ],
      });
      await waitFor(() => dlq.messages.length >= 5, { what: 'five DLQ records' });
      const reasons = Object.fromEntries(dlq.messages.map((m) => [m.key, [m.value.topic, m.value.error]]));
      const requestIdRule = 'requestId must be 1-128 letters, digits, ".", "_", ":" or "-"';
      expect(reasons).toEqual({
        'long-key': [topics.requests, 'invalid request: unitKey must be shorter than or equal to 256 characters'],
        'bad-id': [topics.requests, `invalid request: ${requestIdRule}`],
        'into-joined': [
          topics.requests,
          `reply-to topic "${topics.joined}" is not allowed: answers go to ${topics.responses} or topics starting with "${topics.responses}" (REPLY_TOPIC_PREFIX)`,
        ],
        'big-label': [topics.feedback, 'invalid feedback: label must be at most 16384 bytes of JSON'],
        'long-id': [topics.feedback, `invalid feedback: ${requestIdRule}`],
      });
    } finally {
      await producer.disconnect();
      await dlq.stop();
    }
  });

  it('dead-letters records too large to copy whole into the DLQ (value, key, headers), and goes on with their partition', async () => {
    const dlq = await collect(testKafka(), topics.dlq);
    const producer = await producerFor(testKafka());
    // Within the broker's limit, but as JSON (each byte escaped to \u0001) six times past it: copied whole, the DLQ write failed for ever.
    const big = Buffer.alloc(900 * 1024, 1);
    try {
      // The same through the key and the headers: each is bounded too.
      const longKey = 'k'.repeat(200 * 1024);
      const bigHeader = Buffer.alloc(600 * 1024, 1);
      await producer.send({ topic: topics.feedback, messages: [{ key: 'huge', partition: 0, value: big }] });
      await producer.send({
        topic: topics.feedback,
        messages: [{ key: longKey, partition: 0, value: 'not json', headers: { small: 'kept', big: bigHeader } }],
      });
      await producer.send({ topic: topics.feedback, messages: [{ key: 'next', partition: 0, value: 'not json' }] });
      await waitFor(() => dlq.messages.some((m) => m.key === 'next'), { what: 'the record after the large one in the DLQ' });
      const huge = dlq.messages.find((m) => m.key === 'huge')!.value;
      expect(huge).toMatchObject({
        topic: topics.feedback,
        valueBytes: big.length,
        error: expect.stringMatching(/^invalid feedback: value is not valid JSON/),
      });
      expect(huge.value).toBe(big.toString().slice(0, MAX_DLQ_VALUE_CHARS));
      const cut = dlq.messages.find((m) => m.key === longKey.slice(0, MAX_DLQ_KEY_CHARS))!.value;
      expect(cut).toMatchObject({ key: longKey.slice(0, MAX_DLQ_KEY_CHARS), keyBytes: longKey.length, headers: { small: 'kept' } });
      expect(cut.headersBytes).toBe('small'.length + 'kept'.length + 'big'.length + bigHeader.length);
    } finally {
      await producer.disconnect();
      await dlq.stop();
    }
  });
});

describe('security: docker-compose.yml', () => {
  const compose = parseYaml(readFileSync(join(__dirname, '..', 'docker-compose.yml'), 'utf8'));
  const router = compose.services.router.environment;
  /** What compose makes of `${NAME:-default}` and `${NAME:?message}` when NAME is not set. */
  const unset = (value: string) => /^\$\{[A-Z_]+(:-(?<fallback>.*)|:\?(?<refusal>.*))\}$/.exec(value)?.groups ?? {};

  it("refuses to start the router without an admin key, and lets its specs name the model-server's service", () => {
    expect(unset(router.ADMIN_API_KEY).refusal).toMatch(/set ADMIN_API_KEY/);
    const allow = new UrlAllowlist(unset(router.VARIANT_URL_ALLOW).fallback!);
    expect(allow.problem(`http://model-server:${compose.services['model-server'].environment.PORT}`)).toBeUndefined();
    expect(allow.problem('http://redis:6379')).toMatch(/is not allowed/);
  });
});

/** Errors go to whoever caused them: a failing arm counts against itself only when the primary answered instead. */
describe('security: errors go to whoever caused them', () => {
  const ids = isolation('security-blame');
  const { modelServer, router } = useStack({
    ids,
    services: {
      modelServer: modelServerService,
      router: [routerService, { KAFKA_INGRESS: 'false', REFRESH_INTERVAL_MS: '200' }],
      joiner: [feedbackJoinerService, { JOIN_GROUP: `joiner-${ids.groupSuffix}` }],
      updater: [banditUpdaterService, { UPDATE_GROUP: `updater-${ids.groupSuffix}` }],
    },
    processes: { controller: ['rollout-controller', { ROLLOUT_INTERVAL_MS: '300' }] },
  });
  const variants = (canaryModel: string) => [
    { name: 'v1', url: modelServer.url, model: 'churn-v1', timeoutMs: 10000 },
    { name: 'v2', url: modelServer.url, model: canaryModel, timeoutMs: 10000 },
  ];
  const predict = (deployment: string, body: object) => http('POST', `${router.url}/v1/deployments/${deployment}/predict`, body, NONE);
  /** Three features where the models take four: no model accepts them. */
  const unacceptable = toInferInputs([0.1, 0.2, 0.3]);

  it("does not roll back a canary whose units alone send inputs no model accepts: every arm refused them, so they are the client's 400", async () => {
    const guardrails = { minSamples: 10, maxErrorRateIncrease: 0.02, onFail: 'rollback', onPass: 'hold' };
    const strategy = { type: 'canary', primary: 'v1', canary: 'v2', percent: 50 };
    expect((await http('PUT', `${router.url}/v1/deployments/blamed`, { variants: variants('churn-v2'), strategy, guardrails })).status).toBe(200);
    await waitFor(async () => (await http('GET', `${router.url}/v1/deployments/blamed`)).body.guardrails?.since, { what: 'the first controller pass' });

    const canaryUnits = Array.from({ length: 400 }, (_, i) => `unit-${i}`).filter((unit) => assignCanary('blamed', unit, 50) === 'canary');
    for (const unitKey of canaryUnits.slice(0, 60)) {
      const answer = await predict('blamed', { unitKey, inputs: unacceptable });
      expect([answer.status, answer.body.message]).toEqual([
        400,
        expect.stringMatching(/^variant "v1" rejected the inputs \(model rejected the request \(400\)\): .+/),
      ]);
    }
    const rng = seededRng(25);
    const GOOD = 60;
    for (let i = 0; i < GOOD; i++) {
      const features = randomFeatures(rng);
      const answer = await predict('blamed', { unitKey: `good-${i}`, inputs: toInferInputs(features) });
      expect(answer.status).toBe(200);
      expect((await http('POST', `${router.url}/v1/feedback`, { requestId: answer.body.requestId, label: groundTruth(features) })).status).toBe(202);
    }
    // A controller pass that judged every labelled pair: before, it had rolled back on the canary's "errors".
    const judged = await waitFor(
      async () => {
        const body = (await http('GET', `${router.url}/v1/deployments/blamed`)).body;
        const n = body.guardrails?.evidence?.n ?? {};
        return (n.v1 ?? 0) + (n.v2 ?? 0) >= GOOD && body;
      },
      { timeoutMs: 60000, what: 'a controller pass over every labelled pair' },
    );
    expect(judged.strategy.type).toBe('canary');
    expect(judged.guardrails.evidence.errorRate).toEqual({ v1: 0, v2: 0 });
    expect([judged.report.v1.served.errors, judged.report.v2.served.errors]).toEqual([0, 0]);
    expect(judged.report.v1.served.requests + judged.report.v2.served.requests).toBe(GOOD);
  });

  it('refuses a canary on a model its server does not have (422 naming the variant); forced, answers from the primary', async () => {
    const strategy = { type: 'canary', primary: 'v1', canary: 'v2', percent: 100 };
    for (const query of ['', '?dryRun=true']) {
      const refused = await http('PUT', `${router.url}/v1/deployments/mistyped${query}`, { variants: variants('churn-v2-typo'), strategy });
      expect([refused.status, refused.body.problems]).toEqual([422, ['variant "v2" (model "churn-v2-typo"): its model server has no model "churn-v2-typo"']]);
    }
    expect((await http('GET', `${router.url}/v1/deployments/mistyped`)).status).toBe(404);
    expect((await http('PUT', `${router.url}/v1/deployments/mistyped?force=true`, { variants: variants('churn-v2-typo'), strategy })).status).toBe(200);
    for (let i = 0; i < 5; i++) {
      const answer = await predict('mistyped', { inputs: toInferInputs([0.1, 0.2, 0.3, 0.4]) });
      expect([answer.status, answer.body.variant]).toEqual([200, 'v1']);
    }
  });
});
