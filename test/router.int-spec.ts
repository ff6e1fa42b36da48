import { randomUUID } from 'node:crypto';
import { topicNames } from '@switchyard/contracts';
import { groundTruth, toInferInputs } from '@switchyard/demo-models';
import { routerService } from '../apps/router/src/router.service-definition';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { collect, isolation } from './support/kafka';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

describe('router (real Kafka, Redis and model-server)', () => {
  const ids = isolation('router');
  const topics = topicNames(ids.topicPrefix);
  const { kafka, producer, modelServer, router, predictions } = useStack({
    ids,
    services: { modelServer: modelServerService, router: [routerService, { INGRESS_GROUP: `router-${ids.groupSuffix}` }] },
    producer: true,
    collect: { predictions: 'predictions' },
  });
  const features = [0.9, 0.8, 0.1, 0.5];

  const variant = (name: string, model: string, extra: object = {}) => ({ name, url: modelServer.url, model, protocol: 'v2', timeoutMs: 500, ...extra });

  it('serves a single deployment and publishes its prediction event', async () => {
    const put = await http('PUT', `${router.url}/v1/deployments/churn`, {
      variants: [variant('v1', 'churn-perfect')],
      strategy: { type: 'single', variant: 'v1' },
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ name: 'churn', version: 1, strategy: { type: 'single', variant: 'v1' } });
    // Applied again as it is: the stored spec answers, no new version.
    const again = await http('PUT', `${router.url}/v1/deployments/churn`, {
      strategy: { variant: 'v1', type: 'single' },
      variants: [variant('v1', 'churn-perfect')],
    });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ version: 1, updatedAt: put.body.updatedAt });

    const requestId = `req-${randomUUID()}`;
    const answer = await http('POST', `${router.url}/v1/deployments/churn/predict`, { inputs: toInferInputs(features), requestId });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ requestId, deployment: 'churn', variant: 'v1' });
    expect(answer.body.outputs[0]).toMatchObject({ name: 'label', data: [groundTruth(features)] });

    const event = await waitFor(() => predictions.messages.find((m) => m.key === requestId), { what: 'the prediction event' });
    expect(event.value).toMatchObject({
      type: 'prediction',
      version: 1,
      requestId,
      deployment: 'churn',
      variant: 'v1',
      role: 'served',
      strategy: 'single',
      specVersion: 1,
      probability: 1,
      outputs: answer.body.outputs,
    });
    expect(typeof event.value.eventId).toBe('string');
    expect(event.value.latencyMs).toBeGreaterThan(0);
  });

  it('answers 400 naming each bad field of a spec, and stores nothing', async () => {
    const bad = await http('PUT', `${router.url}/v1/deployments/bad`, {
      variants: [variant('v1', 'churn-v1', { url: 'ftp://x', timeoutMs: -1 }), variant('v1', 'churn-v2')],
      strategy: { type: 'canary', primary: 'v1', canary: 'nope', percent: 120 },
    });
    expect(bad.status).toBe(400);
    const problems: string[] = bad.body.problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('variants.0.url'),
        expect.stringContaining('variants.0.timeoutMs'),
        expect.stringContaining('strategy.percent'),
      ]),
    );
    expect((await http('GET', `${router.url}/v1/deployments/bad`)).status).toBe(404);

    const unknownRef = await http('PUT', `${router.url}/v1/deployments/bad`, {
      variants: [variant('v1', 'churn-v1'), variant('v1', 'churn-v2')],
      strategy: { type: 'single', variant: 'v9' },
    });
    expect(unknownRef.status).toBe(400);
    expect(unknownRef.body.problems).toEqual(['variants: duplicate names v1', 'strategy.variant: unknown variant "v9"']);

    expect((await http('PUT', `${router.url}/v1/deployments/Bad Name`, {})).status).toBe(400);
  });

  it('answers 404 for an unknown deployment and 400 for a predict body without inputs', async () => {
    const missing = await http('POST', `${router.url}/v1/deployments/nothing-here/predict`, { inputs: [] });
    expect(missing.status).toBe(404);
    expect(missing.body.message).toContain('nothing-here');
    const noInputs = await http('POST', `${router.url}/v1/deployments/churn/predict`, { unitKey: 'u1' });
    expect(noInputs.status).toBe(400);
    expect(noInputs.body.message).toContain('inputs');
  });

  it('answers 502 with the reason when the model is down, and records the error event', async () => {
    await http('PUT', `${router.url}/v1/deployments/down?force=true`, {
      variants: [{ name: 'v1', url: 'http://127.0.0.1:1', model: 'churn-v1', timeoutMs: 300 }],
      strategy: { type: 'single', variant: 'v1' },
    });
    const requestId = `down-${randomUUID()}`;
    const answer = await http('POST', `${router.url}/v1/deployments/down/predict`, { inputs: toInferInputs(features), requestId });
    expect(answer.status).toBe(502);
    expect(answer.body.message).toMatch(/variant "v1" failed: model unreachable/);
    const event = await waitFor(() => predictions.messages.find((m) => m.key === requestId));
    expect(event.value.error).toMatch(/^unavailable:/);
  });

  it('serves the Open Inference Protocol with model_version set to the variant', async () => {
    const answer = await http('POST', `${router.url}/v2/models/churn/infer`, { id: 'oip-1', inputs: toInferInputs(features) });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ model_name: 'churn', model_version: 'v1', id: 'oip-1' });
    expect(answer.body.outputs[0].data).toEqual([groundTruth(features)]);
    const invalid = await http('POST', `${router.url}/v2/models/churn/infer`, { inputs: [{ name: 'x' }] });
    expect(invalid.status).toBe(400);
    expect(invalid.body).toEqual({ error: expect.stringContaining('inputs.0.shape') });
  });

  it('publishes valid feedback and refuses a batch with any invalid record', async () => {
    const feedback = await collect(kafka, topics.feedback);
    try {
      const ok = await http('POST', `${router.url}/v1/feedback`, [
        { requestId: 'fb-1', label: 1 },
        { requestId: 'fb-2', reward: 0.5, deployment: 'churn' },
      ]);
      expect(ok).toMatchObject({ status: 202, body: { accepted: 2 } });
      const badDeployment = await http('POST', `${router.url}/v1/feedback`, { requestId: 'fb-6', label: 1, deployment: 'Not A Name' });
      expect(badDeployment.status).toBe(400);
      expect(badDeployment.body.problems.join()).toContain('deployment must be a deployment name');
      const bad = await http('POST', `${router.url}/v1/feedback`, [{ requestId: 'fb-3', label: 1 }, { label: 1 }, { requestId: 'fb-5' }]);
      expect(bad.status).toBe(400);
      expect(bad.body.problems).toEqual(expect.arrayContaining([expect.stringContaining('[1].requestId'), '[2].feedback needs a label or a reward']));
      await waitFor(() => feedback.messages.length >= 2);
      expect(feedback.messages.map((m) => m.value.requestId).sort()).toEqual(['fb-1', 'fb-2']);
      expect(feedback.messages.find((m) => m.key === 'fb-1')!.value).toMatchObject({ type: 'feedback', version: 1, label: 1 });
      expect(feedback.messages.find((m) => m.key === 'fb-1')!.value.deployment).toBeUndefined();
      expect(feedback.messages.find((m) => m.key === 'fb-2')!.value).toMatchObject({ deployment: 'churn', reward: 0.5 });
    } finally {
      await feedback.stop();
    }
  });

  it('answers Kafka requests on the reply-to topic and sends a malformed one, or one replying into our own topics, to the DLQ', async () => {
    const replyTopic = `${topics.responses}.my-replies`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: replyTopic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const replies = await collect(kafka, replyTopic);
    const dlq = await collect(kafka, topics.dlq);
    try {
      const headers = { 'reply-to': replyTopic };
      await producer.send({
        topic: topics.requests,
        messages: [
          { key: 'bad-1', value: '{not json', headers },
          { key: 'k-1', value: JSON.stringify({ requestId: 'k-1', deployment: 'churn', inputs: toInferInputs(features) }), headers },
          { key: 'k-2', value: JSON.stringify({ requestId: 'k-2', deployment: 'missing', inputs: [] }), headers },
          { key: 'bad-2', value: JSON.stringify({ requestId: 'bad-2', deployment: 'churn' }), headers },
          {
            key: 'bad-3',
            value: JSON.stringify({ requestId: 'bad-3', deployment: 'churn', inputs: toInferInputs(features) }),
            headers: { 'reply-to': topics.joined },
          },
          {
            key: 'bad-4',
            value: JSON.stringify({ requestId: 'bad-4', deployment: 'churn', inputs: toInferInputs(features) }),
            headers: { 'reply-to': `${ids.topicPrefix}elsewhere` },
          },
        ],
      });
      await waitFor(() => replies.messages.length >= 2 && dlq.messages.length >= 4, { what: 'replies and DLQ records' });
      const k1 = replies.messages.find((m) => m.key === 'k-1')!.value;
      expect(k1).toMatchObject({ requestId: 'k-1', deployment: 'churn', variant: 'v1' });
      expect(replies.messages.find((m) => m.key === 'k-2')!.value).toEqual({ requestId: 'k-2', error: 'deployment "missing" does not exist' });
      const reasons = Object.fromEntries(dlq.messages.map((m) => [m.key, m.value]));
      expect(reasons['bad-1']).toMatchObject({ topic: topics.requests, value: '{not json', error: expect.stringContaining('not valid JSON') });
      expect(reasons['bad-2'].error).toContain('inputs is required');
      expect(reasons['bad-3'].error).toBe(
        `reply-to topic "${topics.joined}" is not allowed: answers go to ${topics.responses} or topics starting with "${topics.responses}" (REPLY_TOPIC_PREFIX)`,
      );
      expect(reasons['bad-4'].error).toContain('is not allowed');
    } finally {
      await replies.stop();
      await dlq.stop();
    }
  });
});
