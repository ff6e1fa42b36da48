import { groundTruth, randomFeatures, seededRng, toInferInputs } from '@switchyard/demo-models';
import { banditUpdaterService } from '../apps/bandit-updater/src/bandit-updater.service-definition';
import { feedbackJoinerService } from '../apps/feedback-joiner/src/feedback-joiner.service-definition';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { routerService } from '../apps/router/src/router.service-definition';
import { isolation } from './support/kafka';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

const READ_KEY = 'read-key-0123456789abcdef';
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const NONE = { authorization: '' };
const HOOKS = ['confirm-traffic-increase', 'confirm-promotion', 'rollback'] as const;
const GUARDRAILS = { alpha: 0.05, minSamples: 100, maxSamples: 20000, onFail: 'rollback', onPass: 'promote' };

/** What Flagger POSTs (docs.flagger.app/usage/webhooks), the read key in its metadata. */
const flaggerPayload = (token = READ_KEY) => ({ name: 'churn', namespace: 'models', phase: 'Progressing', checksum: '85d557f47b', metadata: { token } });

/**
 * The verdict endpoint and Flagger's hooks over the real stack: router (with a read key)
 * → model-server → Kafka → joiner → updater → Redis statistics → a rollout-controller
 * process judging, the router reading what it stored.
 */
describe('verdict: Argo Rollouts and Flagger read the rollout controller', () => {
  const ids = isolation('verdict');
  const { modelServer, router, start } = useStack({
    ids,
    services: {
      modelServer: modelServerService,
      router: [routerService, { KAFKA_INGRESS: 'false', REFRESH_INTERVAL_MS: '200', READ_API_KEY: READ_KEY }],
      joiner: [feedbackJoinerService, { JOIN_GROUP: `joiner-${ids.groupSuffix}` }],
      updater: [banditUpdaterService, { UPDATE_GROUP: `updater-${ids.groupSuffix}` }],
    },
    processes: { controller: ['rollout-controller', { ROLLOUT_INTERVAL_MS: '300' }] },
  });

  const variant = (name: string, model: string) => ({ name, url: modelServer.url, model, timeoutMs: 10000 });
  const verdict = (name: string, headers = bearer(READ_KEY)) => http('GET', `${router.url}/v1/deployments/${name}/verdict`, undefined, headers);
  const hook = (name: string, type: string, body: unknown = flaggerPayload()) => http('POST', `${router.url}/v1/flagger/${name}/${type}`, body, NONE);

  /** Each hook's status under the current verdict. */
  const hookAnswers = async (name: string) => Object.fromEntries(await Promise.all(HOOKS.map(async (type) => [type, (await hook(name, type)).status])));

  async function put(name: string, spec: object) {
    const answer = await http('PUT', `${router.url}/v1/deployments/${name}`, spec);
    if (answer.status !== 200) throw new Error(`PUT ${name}: ${answer.status} ${JSON.stringify(answer.body)}`);
  }

  /** Predictions each labelled right after its answer, by 8 clients, until `stop`. */
  async function traffic(deployment: string, seed: number, stop: () => boolean): Promise<void> {
    const rng = seededRng(seed);
    let i = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (!stop() && i < 40000) {
          const requestId = `${deployment}-${seed}-${i++}`;
          const features = randomFeatures(rng);
          const answer = await http('POST', `${router.url}/v1/deployments/${deployment}/predict`, { requestId, inputs: toInferInputs(features) });
          if (answer.status !== 200) throw new Error(`predict ${requestId}: ${answer.status} ${JSON.stringify(answer.body)}`);
          const feedback = await http('POST', `${router.url}/v1/feedback`, { requestId, label: groundTruth(features) });
          if (feedback.status !== 202) throw new Error(`feedback ${requestId}: ${feedback.status}`);
        }
      }),
    );
  }

  /**
   * The canary `name` from its first judgement to the verdict `final`, under labelled
   * traffic: every distinct verdict seen on the way, in order, and each hook's answer at
   * the start and at the end.
   */
  async function walk(name: string, spec: object, seed: number, final: 'promote' | 'rollback') {
    await put(name, spec);
    const first = await waitFor(
      async () => {
        const answer = await verdict(name);
        return answer.body.evidence && answer.body;
      },
      { what: `the first judgement of ${name}` },
    );
    const atStart = await hookAnswers(name);
    const seen: string[] = [first.decision];
    let done = false;
    const watch = waitFor(
      async () => {
        const answer = await verdict(name);
        expect(answer.status).toBe(200);
        if (seen[seen.length - 1] !== answer.body.decision) seen.push(answer.body.decision);
        done = answer.body.decision === final;
        return done && answer.body;
      },
      { timeoutMs: 180000, intervalMs: 200, what: `${name} to reach ${final}` },
    );
    const [last] = await Promise.all([watch, traffic(name, seed, () => done)]);
    return { first, seen, last, atStart, atEnd: await hookAnswers(name) };
  }

  it('walks a good canary from continue to promote, and Flagger is let through to promotion', async () => {
    const { first, seen, last, atStart, atEnd } = await walk(
      'good',
      {
        variants: [variant('v1', 'churn-v1'), variant('v3', 'churn-v3')],
        strategy: { type: 'canary', primary: 'v1', canary: 'v3', percent: 50 },
        guardrails: GUARDRAILS,
      },
      41,
      'promote',
    );
    expect(first).toMatchObject({ decision: 'continue', step: null, reason: expect.stringContaining('labelled pairs') });
    expect(seen).toEqual(['continue', 'promote']);
    expect(atStart).toEqual({ 'confirm-traffic-increase': 200, 'confirm-promotion': 403, rollback: 403 });
    expect(atEnd).toEqual({ 'confirm-traffic-increase': 200, 'confirm-promotion': 200, rollback: 403 });

    // The verdict is the controller's own decision, with its evidence: the spec it wrote says the same.
    const spec = (await http('GET', `${router.url}/v1/deployments/good`)).body;
    expect(spec.strategy).toEqual({ type: 'single', variant: 'v3' });
    expect(last.reason).toBe(spec.guardrails.lastDecision.reason);
    expect(last.evidence).toEqual(spec.guardrails.evidence);
    expect(last.evidence.n.v3).toBeGreaterThanOrEqual(GUARDRAILS.minSamples);
    expect(last.evidence.low).toBeGreaterThan(-0.01);

    // A refusal carries the verdict, which Flagger logs in its events.
    const refused = await hook('good', 'rollback');
    expect(refused.body).toMatchObject({
      statusCode: 403,
      hook: 'rollback',
      verdict: { decision: 'promote' },
      message: expect.stringMatching(/^rollback: promote: /),
    });
  });

  it('walks a bad canary from continue to rollback, and Flagger is told to roll back', async () => {
    const { first, seen, last, atStart, atEnd } = await walk(
      'bad',
      {
        variants: [variant('v3', 'churn-v3'), variant('v1', 'churn-v1')],
        strategy: { type: 'canary', primary: 'v3', canary: 'v1', percent: 50 },
        guardrails: GUARDRAILS,
      },
      43,
      'rollback',
    );
    expect(first.decision).toBe('continue');
    expect(seen).toEqual(['continue', 'rollback']);
    expect(atStart).toEqual({ 'confirm-traffic-increase': 200, 'confirm-promotion': 403, rollback: 403 });
    expect(atEnd).toEqual({ 'confirm-traffic-increase': 403, 'confirm-promotion': 403, rollback: 200 });
    expect(last.evidence.high).toBeLessThan(0);
    expect((await http('GET', `${router.url}/v1/deployments/bad`)).body.strategy).toEqual({ type: 'single', variant: 'v3' });
  });

  it('answers 401 to reads without the read or admin key once READ_API_KEY is set', async () => {
    await put('locked', { variants: [variant('v1', 'churn-v1')], strategy: { type: 'single', variant: 'v1' } });
    const reads = ['/v1/deployments', '/v1/deployments/locked', '/v1/deployments/locked/history', '/v1/deployments/locked/verdict'];
    for (const path of reads) {
      for (const headers of [NONE, bearer('wrong-key-0123456789abcdef')]) {
        const answer = await http('GET', `${router.url}${path}`, undefined, headers);
        expect([path, answer.status, answer.body.message]).toEqual([path, 401, 'reads need "Authorization: Bearer <READ_API_KEY>" (or the admin key)']);
      }
      expect([path, (await http('GET', `${router.url}${path}`, undefined, bearer(READ_KEY))).status]).toEqual([path, 200]);
      // `http` sends the admin key unless told otherwise.
      expect([path, (await http('GET', `${router.url}${path}`)).status]).toEqual([path, 200]);
    }
    // Flagger sends the key in the webhook's metadata; a single nobody decided on is a pause: every gate holds.
    for (const type of HOOKS) {
      expect((await hook('locked', type, flaggerPayload('wrong-key-0123456789abcdef'))).status).toBe(401);
      expect((await hook('locked', type, { ...flaggerPayload(), metadata: {} })).status).toBe(401);
      expect((await hook('locked', type)).status).toBe(403);
    }
    expect((await verdict('locked')).body).toEqual({
      decision: 'pause',
      reason: 'locked serves v1 alone, not put there by a rollout decision: nothing is compared',
      step: null,
      evidence: null,
    });
    // The dashboard's files hold no data: the page opens and asks for the key for its API calls.
    expect((await fetch(`${router.url}/ui`)).status).toBe(200);
    // The OpenAPI document names both routes and Flagger's payload.
    const doc = (await http('GET', `${router.url}/docs/json`, undefined, NONE)).body;
    expect(doc.paths['/v1/deployments/{name}/verdict'].get.responses['200'].content['application/json'].schema.properties.decision.enum).toEqual([
      'continue',
      'promote',
      'rollback',
      'pause',
    ]);
    expect(doc.paths['/v1/flagger/{name}/{hook}'].post.requestBody.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/FlaggerWebhookPayload',
    });
    expect(doc.components.schemas.FlaggerWebhookPayload.required).toEqual(['name', 'namespace', 'phase']);
  });

  it('needs a key for evaluate always: the read key or the admin key, and refuses it on a router with neither', async () => {
    const evaluate = (url: string, headers: Record<string, string>) =>
      http('POST', `${url}/v1/deployments/nobody/evaluate`, { policy: { type: 'single', variant: 'v1' } }, headers);
    const refused = await evaluate(router.url, NONE);
    expect([refused.status, refused.body.message]).toEqual([401, 'evaluate needs "Authorization: Bearer <READ_API_KEY>" or the admin key']);
    // Past the guard: there is no such deployment.
    expect((await evaluate(router.url, bearer(READ_KEY))).status).toBe(404);

    const keyless = await start(routerService, { KAFKA_INGRESS: 'false', ADMIN_API_KEY: '' });
    const closed = await evaluate(keyless.url, NONE);
    expect(closed.status).toBe(401);
    expect(closed.body.message).toMatch(/^evaluate is closed: this router has neither READ_API_KEY nor ADMIN_API_KEY/);
    // Reads stay open on a router without READ_API_KEY.
    expect((await http('GET', `${keyless.url}/v1/deployments/locked/verdict`, undefined, NONE)).status).toBe(200);
  });

  it('answers 400 to a bad name or payload and 404 to an unknown deployment or hook, naming the problem', async () => {
    const badName = await verdict('Not_A_Name');
    expect(badName.status).toBe(400);
    expect(badName.body.message).toMatch(/^invalid deployment name/);
    expect((await hook('Not_A_Name', 'rollback')).status).toBe(400);

    const unknown = await verdict('nobody');
    expect([unknown.status, unknown.body.message]).toEqual([404, 'deployment "nobody" does not exist']);
    expect((await hook('nobody', 'rollback')).status).toBe(404);
    const noHook = await hook('locked', 'confirm-rollout');
    expect([noHook.status, noHook.body.message]).toEqual([404, 'no Flagger hook "confirm-rollout": use confirm-traffic-increase, confirm-promotion, rollback']);

    const { name: _name, ...nameless } = flaggerPayload();
    const payloads: [unknown, string][] = [
      [nameless, 'name must be a string'],
      [{ ...flaggerPayload(), phase: 7 }, 'phase must be a string'],
      [{ ...flaggerPayload(), metadata: { token: READ_KEY, big: 'x'.repeat(5000) } }, 'metadata must be at most 4096 bytes of JSON'],
      [{ ...flaggerPayload(), extra: true }, 'extra: property extra should not exist'],
    ];
    for (const [body, problem] of payloads) {
      const answer = await hook('locked', 'confirm-promotion', body);
      expect([answer.status, answer.body.problems]).toEqual([400, expect.arrayContaining([problem])]);
    }
  });
});
