import { toInferInputs } from '@switchyard/demo-models';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { routerService } from '../apps/router/src/router.service-definition';
import { isolation } from './support/kafka';
import { deleteByPrefix } from './support/redis';
import { http, RunningService, startService } from './support/services';

const KEYS = ['key-one-0123456789abcdef', 'key-two-0123456789abcdef'];
const FEEDBACK_KEY = 'feedback-key-0123456789';
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const NONE = { authorization: '' };

/** Closed by default, SSRF-safe, size-limited: the router's answers to what it must refuse. */
describe('security: the router refuses what it must, with the reason', () => {
  const ids = isolation('security');
  const env = { TOPIC_PREFIX: ids.topicPrefix, REDIS_PREFIX: ids.redisPrefix, KAFKA_INGRESS: 'false' };
  const services: RunningService[] = [];
  let modelServer: RunningService;
  let guarded: RunningService;

  const spec = (url = modelServer.url, model = 'churn-v1') => ({
    variants: [
      { name: 'v1', url, model },
      { name: 'v2', url: modelServer.url, model: 'churn-v2' },
    ],
    strategy: { type: 'single', variant: 'v1' },
  });

  beforeAll(async () => {
    modelServer = await startService(modelServerService);
    guarded = await startService(routerService, {
      ...env,
      ADMIN_API_KEY: KEYS.join(','),
      FEEDBACK_API_KEY: FEEDBACK_KEY,
      VARIANT_URL_ALLOW: 'models.example:9000,10.9.0.0/16',
    });
    services.push(modelServer, guarded);
  });

  afterAll(async () => {
    for (const service of services.reverse()) await service.close();
    await deleteByPrefix(ids.redisPrefix);
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

  it('is closed when started without a key, and open only when told ADMIN_AUTH=off', async () => {
    const closed = await startService(routerService, { ...env, ADMIN_API_KEY: '' });
    const open = await startService(routerService, { ...env, ADMIN_API_KEY: '', ADMIN_AUTH: 'off' });
    services.push(closed, open);
    const refused = await http('PUT', `${closed.url}/v1/deployments/anyone`, spec(), NONE);
    expect(refused.status).toBe(401);
    expect(refused.body.message).toMatch(/^the control plane is closed: this router has no ADMIN_API_KEY/);
    expect((await http('PUT', `${open.url}/v1/deployments/anyone`, spec(), NONE)).status).toBe(200);
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
      expect((await http('PUT', `${guarded.url}/v1/deployments/ssrf`, spec(url), bearer(KEYS[0]))).status).toBe(200);
    }
  });

  it('answers 413 to a body past the limit, and 400 to a label past its own', async () => {
    const big = await http('POST', `${guarded.url}/v1/deployments/locked/predict`, { inputs: 'x'.repeat(2 * 1024 * 1024) }, NONE);
    expect(big.status).toBe(413);
    const label = await http('POST', `${guarded.url}/v1/feedback`, { requestId: 'r-1', label: 'y'.repeat(20 * 1024) }, bearer(FEEDBACK_KEY));
    expect(label.status).toBe(400);
    expect(label.body.problems).toEqual(['label must be at most 16384 bytes of JSON']);
  });

  it('takes feedback only with the feedback key when one is set', async () => {
    for (const headers of [NONE, bearer(KEYS[0])]) {
      const answer = await http('POST', `${guarded.url}/v1/feedback`, { requestId: 'r-2', label: 1 }, headers);
      expect(answer.status).toBe(401);
      expect(answer.body.message).toBe('feedback needs "Authorization: Bearer <FEEDBACK_API_KEY>"');
    }
    expect((await http('POST', `${guarded.url}/v1/feedback`, { requestId: 'r-2', label: 1 }, bearer(FEEDBACK_KEY))).status).toBe(202);
  });

  it('says which variant failed and how, never what the model wrote', async () => {
    expect((await http('PUT', `${guarded.url}/v1/deployments/broken`, spec(modelServer.url, 'churn-broken'), bearer(KEYS[0]))).status).toBe(200);
    const answer = await http('POST', `${guarded.url}/v1/deployments/broken/predict`, { inputs: toInferInputs([0.1, 0.2, 0.3, 0.4]) }, NONE);
    expect(answer.status).toBe(502);
    expect(answer.body.message).toBe('variant "v1" failed: model answered 500');
  });
});
