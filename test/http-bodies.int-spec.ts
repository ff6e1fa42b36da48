import { toInferInputs } from '@switchyard/demo-models';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { routerService } from '../apps/router/src/router.service-definition';
import { isolation } from './support/kafka';
import { http } from './support/services';
import { useStack } from './support/stack';

const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

/** Request bodies through the real router: JSON only, read by the bounded parser every record is read with. */
describe('HTTP bodies: JSON only, bounded, refused with a 4xx and the reason', () => {
  const ids = isolation('http-bodies');
  const { modelServer, router } = useStack({ ids, services: { modelServer: modelServerService, router: [routerService, { KAFKA_INGRESS: 'false' }] } });
  const inputs = toInferInputs([0.1, 0.2, 0.3, 0.4]);
  const predict = () => `${router.url}/v1/deployments/bodies/predict`;
  /** A raw request: the body as given, as bytes (a string would get text/plain), only the headers given (besides the admin key). */
  const send = async (url: string, body: string | undefined, headers: Record<string, string>, method = 'POST') => {
    const response = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${process.env.ADMIN_API_KEY!.split(',')[0]}`, ...headers },
      body: body === undefined ? undefined : new TextEncoder().encode(body),
    });
    return { status: response.status, body: (await response.json()) as { message?: string } };
  };

  beforeAll(async () => {
    const put = await http('PUT', `${router.url}/v1/deployments/bodies`, {
      variants: [{ name: 'v1', url: modelServer.url, model: 'churn-v1' }],
      strategy: { type: 'single', variant: 'v1' },
    });
    if (put.status !== 200) throw new Error(`PUT: ${put.status} ${JSON.stringify(put.body)}`);
  });

  it('answers 415 with one sentence to a POST or PUT body that is not JSON, a missing Content-Type and forms included', async () => {
    const form = 'requestId=r1&label=1';
    expect(await send(`${router.url}/v1/feedback`, form, { 'content-type': 'application/x-www-form-urlencoded' })).toEqual({
      status: 415,
      body: expect.objectContaining({
        message: 'Content-Type application/x-www-form-urlencoded is not accepted: send JSON with Content-Type: application/json',
      }),
    });
    expect(await send(predict(), JSON.stringify({ inputs }), {})).toEqual({
      status: 415,
      body: expect.objectContaining({ message: 'the body must be JSON: send Content-Type: application/json' }),
    });
    expect((await send(predict(), JSON.stringify({ inputs }), { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await send(`${router.url}/v1/deployments/other`, '{}', { 'content-type': 'multipart/form-data; boundary=x' }, 'PUT')).status).toBe(415);
  });

  it('takes application/json with parameters and any +json type', async () => {
    expect((await send(predict(), JSON.stringify({ inputs }), { 'content-type': 'application/json; charset=utf-8' })).status).toBe(200);
    expect((await send(predict(), JSON.stringify({ inputs }), { 'content-type': 'application/vnd.switchyard+json' })).status).toBe(200);
  });

  it('answers 400 with the reason to JSON nested too deep (never 500), a number no double holds and a prototype key', async () => {
    for (const [url, body] of [
      [predict(), `{"inputs":${nested(8000)}}`],
      [`${router.url}/v1/feedback`, `{"requestId":"r1","label":${nested(8000)}}`],
      [`${router.url}/v1/deployments/deep`, `{"variants":${nested(8000)}}`],
    ]) {
      const answer = await send(url, body, { 'content-type': 'application/json' }, url.endsWith('deep') ? 'PUT' : 'POST');
      expect({ url, ...answer }).toEqual({
        url,
        status: 400,
        body: expect.objectContaining({ message: 'the body is not valid JSON: nested deeper than 64 levels' }),
      });
    }
    expect((await send(`${router.url}/v1/feedback`, '{"requestId":"r1","reward":1e999}', { 'content-type': 'application/json' })).body.message).toBe(
      'the body is not valid JSON: a number is out of the range of a double (±1.8e308)',
    );
    expect((await send(predict(), '{"inputs":[1],"__proto__":{"x":1}}', { 'content-type': 'application/json' })).status).toBe(400);
    expect((await send(predict(), '{"inputs":', { 'content-type': 'application/json' })).status).toBe(400);
  });

  it('leaves /v2 bodies to the Open Inference Protocol, which takes JSON with or without a Content-Type', async () => {
    const infer = `${router.url}/v2/models/bodies/infer`;
    expect((await send(infer, JSON.stringify({ inputs }), { 'content-type': 'application/json' })).status).toBe(200);
    expect((await send(infer, JSON.stringify({ inputs }), {})).status).toBe(200);
  });
});

describe('HTTP feedback: a reward outside the range of the deployment it names', () => {
  const ids = isolation('reward-range');
  const { modelServer, router } = useStack({ ids, services: { modelServer: modelServerService, router: [routerService, { KAFKA_INGRESS: 'false' }] } });

  beforeAll(async () => {
    const put = await http('PUT', `${router.url}/v1/deployments/scored`, {
      variants: [{ name: 'v1', url: modelServer.url, model: 'churn-v1' }],
      strategy: { type: 'single', variant: 'v1' },
      reward: { type: 'explicit', min: -1, max: 10 },
    });
    if (put.status !== 200) throw new Error(`PUT: ${put.status} ${JSON.stringify(put.body)}`);
  });

  it('is a 400 with the range (one reward of 1e150 took a bandit over); one inside it is accepted', async () => {
    const answer = await http('POST', `${router.url}/v1/feedback`, { requestId: 'r1', deployment: 'scored', reward: 1e150 });
    expect(answer.status).toBe(400);
    expect(JSON.stringify(answer.body)).toContain("reward 1e+150 is outside the deployment's reward range [-1, 10]");
    expect((await http('POST', `${router.url}/v1/feedback`, [{ requestId: 'r2', deployment: 'scored', reward: 10 }])).status).toBe(202);
  });
});
