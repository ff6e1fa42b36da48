import { topicNames } from '@switchyard/contracts';
import { groundTruth, predict, randomFeatures, seededRng, toInferInputs } from '@switchyard/demo-models';
import { feedbackJoinerService } from '../apps/feedback-joiner/src/feedback-joiner.service-definition';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { routerService } from '../apps/router/src/router.service-definition';
import { shadowWorkerService } from '../apps/shadow-worker/src/shadow-worker.service-definition';
import { groupCaughtUp, isolation, readThrough, Received } from './support/kafka';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';
import { feedbackEvent, sendEvents } from './support/events';

const REQUESTS = 60;

describe('shadow deployment end to end: router → shadow-worker → feedback-joiner', () => {
  const ids = isolation('shadow-flow');
  const topics = topicNames(ids.topicPrefix);
  const joinGroup = `joiner-${ids.groupSuffix}`;
  const shadowGroup = `shadow-${ids.groupSuffix}`;
  const { kafka, producer, modelServer, router, joined } = useStack({
    ids,
    services: {
      modelServer: modelServerService,
      router: [routerService, { KAFKA_INGRESS: 'false' }],
      shadowWorker: [shadowWorkerService, { SHADOW_GROUP: shadowGroup }],
      joiner: [feedbackJoinerService, { JOIN_GROUP: joinGroup }],
    },
    producer: true,
    collect: { joined: 'joined' },
  });

  beforeAll(async () => {
    const put = await http('PUT', `${router.url}/v1/deployments/churn`, {
      variants: [
        { name: 'v1', url: modelServer.url, model: 'churn-v1' },
        { name: 'v3', url: modelServer.url, model: 'churn-v3' },
      ],
      strategy: { type: 'shadow', primary: 'v1', shadows: ['v3'] },
    });
    expect(put.status).toBe(200);
  });

  it('joins every served and shadow prediction with its feedback exactly once, with the right reward', async () => {
    const rng = seededRng(7);
    const cases = Array.from({ length: REQUESTS }, (_, i) => {
      const features = randomFeatures(rng);
      return { requestId: `flow-${i}`, features, label: groundTruth(features) };
    });
    const viaKafka = (list: typeof cases) =>
      sendEvents(
        producer,
        topics.feedback,
        list.map((c) => feedbackEvent({ requestId: c.requestId, label: c.label })),
      );
    const viaHttp = async (list: typeof cases) =>
      expect(
        (
          await http(
            'POST',
            `${router.url}/v1/feedback`,
            list.map((c) => ({ requestId: c.requestId, label: c.label })),
          )
        ).status,
      ).toBe(202);

    // A sixth of the feedback arrives before its prediction exists.
    await viaKafka(cases.slice(0, 10));
    for (const c of cases) {
      const answer = await http('POST', `${router.url}/v1/deployments/churn/predict`, { inputs: toInferInputs(c.features), requestId: c.requestId });
      expect(answer.body.variant).toBe('v1');
    }
    await viaHttp(cases.slice(10, 35));
    await viaKafka(cases.slice(35));
    // Duplicates, over both paths.
    await viaHttp(cases.slice(0, 10));
    await viaKafka(cases.slice(30, 40));

    await waitFor(
      async () =>
        joined.messages.length >= 2 * REQUESTS &&
        (await groupCaughtUp(kafka, shadowGroup, [topics.shadowRequests])) &&
        (await groupCaughtUp(kafka, joinGroup, [topics.predictions, topics.shadowPredictions, topics.feedback])),
      { timeoutMs: 60000, what: 'every pair joined and every input committed' },
    );
    await readThrough(kafka, topics.joined, joined);

    const pairs = joined.messages.map((m) => `${m.value.requestId}/${m.value.variant}/${m.value.role}`);
    expect(new Set(pairs).size).toBe(pairs.length);
    expect(pairs.length).toBe(2 * REQUESTS);
    for (const c of cases) {
      const mine = joined.messages.filter((m) => m.key === c.requestId).map((m: Received) => m.value);
      expect(mine.map((e) => `${e.variant}/${e.role}`).sort()).toEqual(['v1/served', 'v3/shadow']);
      for (const event of mine) {
        const model = event.variant === 'v1' ? 'churn-v1' : 'churn-v3';
        expect(event.reward).toBe(predict(model, c.features).label === c.label ? 1 : 0);
        expect(event).toMatchObject({ type: 'joined', label: c.label, deployment: 'churn', specVersion: 1 });
      }
    }
  });

  it('reports requests, latency and shadow agreement per variant', async () => {
    const answer = await http('GET', `${router.url}/v1/deployments/churn`);
    expect(answer.status).toBe(200);
    const { v1, v3 } = answer.body.report;
    expect(v1.served).toMatchObject({ requests: REQUESTS, errors: 0 });
    expect(v1.served.latencyMs.p50).toBeGreaterThan(0);
    expect(v3.shadow).toMatchObject({ requests: REQUESTS, errors: 0 });
    // churn-v1 and churn-v3 are right 70% and 90% of the time on independent inputs.
    expect(v3.shadow.agreement.compared).toBe(REQUESTS);
    expect(v3.shadow.agreement.rate).toBeGreaterThan(0.4);
    expect(v3.shadow.agreement.rate).toBeLessThan(0.95);
  });
});
