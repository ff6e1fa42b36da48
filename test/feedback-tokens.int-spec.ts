import { toInferInputs } from '@switchyard/demo-models';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { routerService } from '../apps/router/src/router.service-definition';
import { isolation } from './support/kafka';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

const SECRET = 'shared-token-secret-0123456789';
const inputs = toInferInputs([0.1, 0.2, 0.3, 0.4]);

/** Feedback tokens (issue #25): only the holder of a prediction labels a deployment that requires them. */
describe('feedback tokens: a deployment with feedback.requireToken takes only the feedback its answers vouched for', () => {
  const ids = isolation('tokens');
  const env = { KAFKA_INGRESS: 'false' };
  const { modelServer, router, peer, unkeyed } = useStack({
    ids,
    redis: true,
    services: {
      modelServer: modelServerService,
      router: [routerService, { ...env, FEEDBACK_TOKEN_SECRET: SECRET }],
      // Another router of the same fleet: the same secret checks the first one's tokens.
      peer: [routerService, { ...env, FEEDBACK_TOKEN_SECRET: SECRET }],
      unkeyed: [routerService, env],
    },
  });

  const spec = (feedback?: object) => ({
    variants: [
      { name: 'v1', url: modelServer.url, model: 'churn-v1' },
      { name: 'v2', url: modelServer.url, model: 'churn-v2' },
    ],
    strategy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 50 },
    ...(feedback && { feedback }),
  });
  const feedback = (url: string, body: unknown) => http('POST', `${url}/v1/feedback`, body);

  beforeAll(async () => {
    expect((await http('PUT', `${router.url}/v1/deployments/tokened`, spec({ requireToken: true }))).status).toBe(200);
    expect((await http('PUT', `${router.url}/v1/deployments/open`, spec())).status).toBe(200);
    for (const url of [peer.url, unkeyed.url]) {
      await waitFor(async () => (await http('GET', `${url}/v1/deployments/tokened`)).status === 200, { what: 'the other routers to know the deployment' });
    }
  });

  it('answers each prediction with a token, and takes feedback presenting it on any router of the fleet', async () => {
    const predicted = await http('POST', `${router.url}/v1/deployments/tokened/predict`, { inputs, requestId: 'tok-1' });
    expect(predicted.status).toBe(200);
    expect(predicted.body.feedbackToken).toMatch(new RegExp(`^${predicted.body.variant}\\.1\\.[A-Za-z0-9_-]{22}$`));
    const accepted = await feedback(peer.url, { requestId: 'tok-1', deployment: 'tokened', label: 1, feedbackToken: predicted.body.feedbackToken });
    expect([accepted.status, accepted.body]).toEqual([202, { accepted: 1 }]);
  });

  it("carries the token in an Open Inference Protocol answer's parameters", async () => {
    const answer = await http('POST', `${peer.url}/v2/models/tokened/infer`, { id: 'tok-oip', inputs });
    expect(answer.status).toBe(200);
    expect(answer.body.parameters.feedbackToken).toMatch(new RegExp(`^${answer.body.model_version}\\.1\\.`));
    const accepted = await feedback(router.url, {
      requestId: 'tok-oip',
      deployment: 'tokened',
      reward: 1,
      feedbackToken: answer.body.parameters.feedbackToken,
    });
    expect(accepted.status).toBe(202);
  });

  it('refuses (403, with the reason) feedback without the token, with a tampered one or one of another request, and a batch holding any', async () => {
    const { body } = await http('POST', `${router.url}/v1/deployments/tokened/predict`, { inputs, requestId: 'tok-2' });
    const token: string = body.feedbackToken;
    const mac = token.split('.')[2];
    const tampered = `${token.split('.').slice(0, 2).join('.')}.${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;
    const cases: [unknown, RegExp][] = [
      [{ requestId: 'tok-2', deployment: 'tokened', label: 1 }, /requires the feedbackToken its prediction answer carried/],
      [{ requestId: 'tok-2', deployment: 'tokened', label: 1, feedbackToken: tampered }, /was not issued for request "tok-2"/],
      [{ requestId: 'tok-1', deployment: 'tokened', label: 1, feedbackToken: token }, /was not issued for request "tok-1"/],
      [{ requestId: 'tok-2', deployment: 'tokened', label: 1, feedbackToken: 'forged' }, /malformed/],
      // Feedback naming no deployment joins every deployment's prediction of its request id.
      [{ requestId: 'tok-2', label: 1, feedbackToken: token }, /deployment is required: "tokened" require feedback tokens/],
    ];
    for (const [record, reason] of cases) {
      const refused = await feedback(router.url, record);
      expect([refused.status, refused.body.message]).toEqual([403, expect.stringMatching(reason)]);
    }
    const batch = await feedback(router.url, [
      { requestId: 'tok-2', deployment: 'tokened', label: 1, feedbackToken: token },
      { requestId: 'tok-2', deployment: 'tokened', label: 0 },
    ]);
    expect([batch.status, batch.body.problems]).toEqual([403, [expect.stringMatching(/^\[1\]: deployment "tokened" requires the feedbackToken/)]]);
  });

  it('leaves a deployment without the option as it was', async () => {
    const predicted = await http('POST', `${router.url}/v1/deployments/open/predict`, { inputs, requestId: 'open-1' });
    expect(predicted.status).toBe(200);
    expect(predicted.body).not.toHaveProperty('feedbackToken');
    expect((await feedback(router.url, { requestId: 'open-1', deployment: 'open', label: 1 })).status).toBe(202);
  });

  it('refuses to take or serve such a deployment on a router without FEEDBACK_TOKEN_SECRET', async () => {
    const put = await http('PUT', `${unkeyed.url}/v1/deployments/tokened2`, spec({ requireToken: true }));
    expect([put.status, put.body.problems]).toEqual([400, [expect.stringMatching(/^feedback\.requireToken: this router has no FEEDBACK_TOKEN_SECRET/)]]);
    const predicted = await http('POST', `${unkeyed.url}/v1/deployments/tokened/predict`, { inputs });
    expect([predicted.status, predicted.body.message]).toEqual([503, expect.stringMatching(/no FEEDBACK_TOKEN_SECRET to sign them/)]);
  });
});
