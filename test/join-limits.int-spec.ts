import { randomBytes } from 'node:crypto';
import { MAX_FEEDBACK_BATCH } from '@switchyard/contracts';
import { toInferInputs } from '@switchyard/demo-models';
import { FeedbackRecord, JoinStateStore, PredictionRecord } from '@switchyard/store';
import { JOIN_BUCKETS, joinBucket } from '@switchyard/strategies';
import { feedbackJoinerService } from '../apps/feedback-joiner/src/feedback-joiner.service-definition';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { routerService } from '../apps/router/src/router.service-definition';
import { feedbackEvent, predictionEvent, sendEvents } from './support/events';
import { isolation } from './support/kafka';
import { describeOnEachRedis } from './support/redis';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

/** Small limits: each bucket may hold 2 pending records of each kind, 2 per deployment, 4 KiB. */
const LIMITS = { records: 2 * JOIN_BUCKETS, bytes: 4096 * JOIN_BUCKETS, recordsPerDeployment: 2 * JOIN_BUCKETS, bytesPerDeployment: 4096 * JOIN_BUCKETS };
const timing = () => ({ ttlSeconds: 600, nowMs: Date.now() });

/** Request ids, `n` of them in bucket `bucket`. */
function idsIn(bucket: number, n: number, tag: string): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < n; i++) if (joinBucket(`${tag}-${i}`) === bucket) ids.push(`${tag}-${i}`);
  return ids;
}

describeOnEachRedis('JoinStateStore: what is pending is limited (issue #25)', (redis) => {
  const store = new JoinStateStore(redis.client, LIMITS);
  let run = 0;
  const feedback = (requestId: string, deployment?: string, label: unknown = 1): FeedbackRecord => ({
    requestId,
    deployment,
    feedback: { feedbackAt: new Date().toISOString(), label },
    token: `feedback:0:${++run}`,
  });
  const prediction = (requestId: string, deployment = 'churn'): PredictionRecord => ({
    requestId,
    deployment,
    pair: `${deployment}:v1:served`,
    prediction: predictionEvent({ requestId, deployment, outputs: [] }),
    token: `predictions:0:${++run}`,
  });
  const held = (requestId: string) => redis.raw.hgetall(`${redis.client.prefix}{join.${joinBucket(requestId)}}:held`);

  beforeAll(() => store.setReady(true));

  it('refuses pending feedback past its share, takes feedback whose prediction is there, and the sweep gives the room back', async () => {
    const tag = `fb${randomBytes(3).toString('hex')}`;
    const [a, b, c, d] = idsIn(3, 4, tag);
    const first = await store.recordFeedback([feedback(a, 'churn'), feedback(b, 'churn'), feedback(c, 'churn')], timing);
    expect([...first.refused]).toEqual([
      [2, expect.stringMatching(/^the join state is full: feedback waiting for its prediction may hold at most 32 records in all \(16 buckets/)],
    ]);
    expect(await store.pendingFeedbackRefusals([{ requestId: d, deployment: 'churn', bytes: 20 }])).toEqual([expect.stringMatching(/^the join state is full/)]);
    // A duplicate of stored feedback adds nothing: taken.
    expect((await store.recordFeedback([feedback(a, 'churn')], timing)).refused.size).toBe(0);
    // Feedback for a request whose prediction is there joins: it is not pending, so taken.
    await store.recordPredictions([prediction(d)], timing);
    expect(await store.pendingFeedbackRefusals([{ requestId: d, deployment: 'churn', bytes: 20 }])).toEqual([undefined]);
    const joined = await store.recordFeedback([feedback(d, 'churn')], timing);
    expect([joined.refused.size, joined.candidates.length]).toEqual([0, 1]);
    expect(await held(a)).toMatchObject({ 'f:n': '2', 'f:n:churn': '2', 'p:n': '1' });

    await store.sweep(Date.now() + 1000, 1000);
    expect(await held(a)).toMatchObject({ 'f:n': '0', 'f:b': '0', 'p:n': '0', 'p:b': '0' });
    expect(Object.keys(await held(a)).filter((field) => field.includes(':churn'))).toEqual([]);
    expect((await store.recordFeedback([feedback(c, 'churn')], timing)).refused.size).toBe(0);
    await store.sweep(Date.now() + 1000, 1000);
  });

  it('limits bytes and each deployment on its own, and predictions as feedback', async () => {
    const tag = `pr${randomBytes(3).toString('hex')}`;
    const [a, b, c] = idsIn(5, 3, tag);
    const big = 'x'.repeat(3000);
    const bytes = await store.recordFeedback([feedback(a, 'one', big), feedback(b, 'one', big)], timing);
    expect([...bytes.refused.values()]).toEqual([expect.stringMatching(/at most 65536 bytes in all/)]);
    const perDeployment = new JoinStateStore(redis.client, { ...LIMITS, recordsPerDeployment: JOIN_BUCKETS });
    const predictions = await perDeployment.recordPredictions([prediction(a, 'two'), prediction(b, 'two'), prediction(c, 'three')], timing);
    // `a` has feedback for deployment "one" only, so its prediction of "two" is pending too.
    expect([...predictions.refused]).toEqual([
      [1, expect.stringMatching(/^the join state is full: predictions waiting for their feedback may hold at most 16 records for deployment "two"/)],
    ]);
    await store.sweep(Date.now() + 1000, 1000);
  });
});

/**
 * The red-team flood of issue #25 (20 requests of 63 × 16 KiB labels for request ids that
 * do not exist added 25 MiB to Redis) against a router and a joiner with 1 MiB of pending
 * feedback allowed: Redis's used_memory grows by at most BOUND, the router answers 429 with
 * the reason, and what reaches the joiner past the limit over Kafka goes to the DLQ with it.
 */
describe('join-limits: a flood of feedback for request ids that do not exist leaves Redis memory flat', () => {
  const ids = isolation('join-limits');
  const MAX_PENDING_BYTES = 2 ** 20;
  /** The limit, Redis's own per-record overhead and the joiner's few other keys. */
  const BOUND = 2 * MAX_PENDING_BYTES;
  const { modelServer, router, redis, producer, dlq, joined, topics } = useStack({
    ids,
    privateRedis: true,
    redis: true,
    producer: true,
    services: {
      modelServer: modelServerService,
      router: [routerService, { KAFKA_INGRESS: 'false' }],
      joiner: [feedbackJoinerService, { JOIN_MAX_PENDING_BYTES: String(MAX_PENDING_BYTES) }],
    },
    collect: { dlq: 'dlq', joined: 'joined' },
  });
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
  const requestKeys = (pattern: string) => redis.keys(`${ids.redisPrefix}{join.*}:r:${pattern}`);
  const deadLettered = (requestId: RegExp) => dlq.messages.filter((m) => requestId.test(m.key ?? '') && /join state is full/.test(m.value?.error));

  it('answers 429 with the reason once the limit is reached, dead-letters what comes over Kafka, and Redis grows by at most 2 MiB (25 MiB before)', async () => {
    const spec = { variants: [{ name: 'v1', url: modelServer.url, model: 'churn-v1' }], strategy: { type: 'single', variant: 'v1' } };
    expect((await http('PUT', `${router.url}/v1/deployments/flood`, spec)).status).toBe(200);
    // One label over each path first, so that every script is loaded and the limits written: memory is measured from there.
    expect((await http('POST', `${router.url}/v1/feedback`, { requestId: 'warm-up', deployment: 'flood', label: 0 })).status).toBe(202);
    await waitFor(async () => (await requestKeys('warm-up')).length > 0, { what: 'the joiner to store the first label' });
    const before = await usedMemory();

    const label = 'x'.repeat(16 * 1024 - 2);
    const statuses: number[] = [];
    let reason = '';
    for (let request = 0; request < 20; request++) {
      const body = Array.from({ length: Math.min(63, MAX_FEEDBACK_BATCH) }, (_, i) => ({ requestId: `ghost-${request}-${i}`, deployment: 'flood', label }));
      const answer = await http('POST', `${router.url}/v1/feedback`, body);
      statuses.push(answer.status);
      if (answer.status === 429) reason = answer.body.message;
      // The router sees the joiner's counters: wait until the joiner has passed what was published.
      const mine = new RegExp(`^ghost-${request}-`);
      if (answer.status === 202)
        await waitFor(async () => (await requestKeys(`ghost-${request}-*`)).length > 0 || deadLettered(mine).length > 0, { what: 'the joiner' });
    }
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThan(10);
    expect(reason).toMatch(
      /^feedback refused: ghost-\d+-\d+: the join state is full: feedback waiting for its prediction may hold at most 1048576 bytes in all/,
    );

    // Past the router, over Kafka: the same labels straight to the feedback topic go to the DLQ with the reason.
    await sendEvents(
      producer,
      topics.feedback,
      Array.from({ length: 63 }, (_, i) => feedbackEvent({ requestId: `kafka-ghost-${i}`, deployment: 'flood', label })),
    );
    const refused = await waitFor(() => deadLettered(/^kafka-ghost-/).length >= 63 - 2 * JOIN_BUCKETS && deadLettered(/^kafka-ghost-/), {
      what: 'DLQ records of the labels past the limit',
      timeoutMs: 60000,
    });
    expect(refused[0].value.error).toMatch(/^the join state is full: feedback waiting for its prediction may hold at most 1048576 bytes in all/);

    // Polled: Redis gives back the buffers of the script calls (16 KiB arguments) a moment after them.
    const grown = await waitFor(
      async () => {
        const growth = (await usedMemory()) - before;
        return growth <= BOUND && { growth };
      },
      { what: `Redis used_memory to be within ${BOUND} bytes of ${before}`, timeoutMs: 60000 },
    );
    console.log(`join-limits: Redis used_memory grew by ${grown.growth} bytes under the flood (bound ${BOUND})`);

    // The limit is on what waits, not on what joins: a prediction's label, once its prediction is there, is taken and joined.
    const served = await http('POST', `${router.url}/v1/deployments/flood/predict`, { requestId: 'real-1', inputs: toInferInputs([0.1, 0.2, 0.3, 0.4]) });
    expect(served.status).toBe(200);
    await waitFor(async () => Object.keys(await redis.hgetall((await requestKeys('real-1'))[0] ?? 'none')).some((f) => f.startsWith('p:')), {
      what: 'the joiner to store the prediction',
    });
    expect((await http('POST', `${router.url}/v1/feedback`, { requestId: 'real-1', deployment: 'flood', label })).status).toBe(202);
    await waitFor(() => joined.messages.some((m) => m.key === 'real-1'), { what: 'the joined event of real-1' });
  });
});
