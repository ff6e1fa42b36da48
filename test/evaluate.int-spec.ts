import { Producer } from 'kafkajs';
import { topicNames } from '@switchyard/contracts';
import { groundTruth, randomFeatures, seededRng, toInferInputs } from '@switchyard/demo-models';
import { joinedEvent, sendEvents } from './support/events';
import { groupCaughtUp, isolation, producerFor } from './support/kafka';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

const REQUESTS = 2400;
const CONCURRENCY = 16;
/** Four arms at a 15 % floor: every arm keeps enough traffic for a tight interval. */
const MIN_SHARE = 0.15;
const ACCURACY: Record<string, number> = { v1: 0.7, v2: 0.8, v3: 0.9 };
/**
 * Three intervals must all hold: at 95 % each, one run in seven would fail somewhere by
 * chance alone. At 99.9 % all three hold in all but ≈ 0.3 % of runs.
 */
const LEVEL = 0.999;
/** Synthetic joined events for the scan-cost measurement; `EVALUATE_SCAN_EVENTS=100000` for docs/off-policy-evaluation.md's figure. */
const SCAN_EVENTS = Number(process.env.EVALUATE_SCAN_EVENTS ?? 20000);

/**
 * Off-policy evaluation over real processes: a Thompson bandit serves real traffic through
 * router → model-server, labels go back through the router, the feedback-joiner writes the
 * joined topic and the bandit-updater moves the weights; then the router's evaluate
 * endpoint estimates, from that logged traffic alone, what `single` on each variant would
 * have earned. The demo models' accuracies (0.70, 0.80, 0.90) are the known answers. A
 * fourth arm (churn-broken) always fails, so the logs hold fallback answers too.
 */
describe('POST /v1/deployments/{name}/evaluate over the real joined topic', () => {
  const ids = isolation('evaluate');
  const topics = topicNames(ids.topicPrefix);
  const groups = { join: `joiner-${ids.groupSuffix}`, update: `updater-${ids.groupSuffix}` };
  const { kafka, modelServer, router } = useStack({
    ids,
    processes: {
      modelServer: ['model-server', { LOG_LEVEL: 'warn' }],
      router: ['router', { LOG_LEVEL: 'warn', KAFKA_INGRESS: 'false', REFRESH_INTERVAL_MS: '200' }],
      joiner: ['feedback-joiner', { LOG_LEVEL: 'warn', JOIN_GROUP: groups.join, INSTANCE_ID: groups.join }],
      updater: ['bandit-updater', { LOG_LEVEL: 'warn', UPDATE_GROUP: groups.update, SNAPSHOT_INTERVAL_MS: '500' }],
    },
  });
  const evaluate = (body: unknown, name = 'churn') => http('POST', `${router.url}/v1/deployments/${name}/evaluate`, body);

  beforeAll(async () => {
    const put = await http('PUT', `${router.url}/v1/deployments/churn`, {
      variants: [
        // The model's default 1 s deadline can pass with 16 in flight on a loaded CI box; latency is not under test.
        ...[1, 2, 3].map((n) => ({ name: `v${n}`, url: modelServer.url, model: `churn-v${n}`, timeoutMs: 10000 })),
        { name: 'broken', url: modelServer.url, model: 'churn-broken' },
      ],
      strategy: { type: 'bandit', algorithm: 'thompson', minShare: MIN_SHARE },
      reward: { type: 'match' },
    });
    if (put.status !== 200) throw new Error(`PUT: ${put.status} ${JSON.stringify(put.body)}`);

    // Traffic: seeded features, each answer's true label sent back in batches of 100.
    const rng = seededRng(16);
    const pending: { requestId: string; label: number }[] = [];
    const sendFeedback = async (batch: { requestId: string; label: number }[]) => {
      const answer = await http('POST', `${router.url}/v1/feedback`, batch);
      if (answer.status !== 202) throw new Error(`feedback: ${answer.status} ${JSON.stringify(answer.body)}`);
    };
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < REQUESTS) {
          const i = next++;
          const features = randomFeatures(rng);
          let requestId = `${ids.groupSuffix}-${i}`;
          let answer = await http('POST', `${router.url}/v1/deployments/churn/predict`, { requestId, inputs: toInferInputs(features) });
          // 503 says "retry later" (the shared broker moving a fresh topic's leaders, say): a
          // client retries, with a new requestId so that an event Kafka did keep stays unlabelled.
          for (let retry = 1; answer.status === 503 && retry <= 3; retry++) {
            await new Promise((resolve) => setTimeout(resolve, 200 * retry));
            requestId = `${ids.groupSuffix}-${i}-retry${retry}`;
            answer = await http('POST', `${router.url}/v1/deployments/churn/predict`, { requestId, inputs: toInferInputs(features) });
          }
          if (answer.status !== 200) throw new Error(`predict ${i}: ${answer.status} ${JSON.stringify(answer.body)}`);
          pending.push({ requestId, label: groundTruth(features) });
          if (pending.length >= 100) await sendFeedback(pending.splice(0));
        }
      }),
    );
    if (pending.length) await sendFeedback(pending.splice(0));
    await waitFor(() => groupCaughtUp(kafka, groups.join, [topics.predictions, topics.shadowPredictions, topics.feedback]), {
      timeoutMs: 90000,
      what: 'the joiner to join every prediction',
    });
    await waitFor(() => groupCaughtUp(kafka, groups.update, [topics.joined]), { timeoutMs: 60000, what: 'the updater to apply every joined event' });
  });

  it.each(Object.entries(ACCURACY))('estimates single %s within an interval that holds its known accuracy', async (variant, accuracy) => {
    const answer = await evaluate({ policy: { type: 'single', variant }, level: LEVEL });
    expect(answer.status).toBe(200);
    const result = answer.body;
    process.stdout.write(`evaluate single ${variant}: ${JSON.stringify(result)}\n`);
    expect(result.method).toBe('snips');
    expect(result.low).toBeLessThanOrEqual(accuracy);
    expect(result.high).toBeGreaterThanOrEqual(accuracy);
    expect(result.high - result.low).toBeLessThan(0.25);
    // DR, with the reward model fit on the window (each variant's mean: no context is logged yet), holds it at the same level.
    expect(result.estimators.dr.low).toBeLessThanOrEqual(accuracy);
    expect(result.estimators.dr.high).toBeGreaterThanOrEqual(accuracy);
    // Every request was answered and labelled: each is either a sample or a fallback answer left out.
    expect(result.n + (result.excluded.fallback ?? 0)).toBe(REQUESTS);
    expect(result.excluded.fallback).toBeGreaterThan(0);
    expect(result.ess).toBeGreaterThan(100);
    // The self-check: the mean weight over every decision, fallbacks included by the variant chosen, is 1 ± noise
    // (weights are at most 1/0.15 here; its standard error is ≈ 0.05).
    expect(Math.abs(result.meanWeight - 1)).toBeLessThan(0.2);
  });

  it('estimates a 50/50 split of v1 and v3 within an interval that holds 0.80', async () => {
    const answer = await evaluate({ policy: { type: 'bandit', weights: { v1: 0.5, v3: 0.5 } }, level: LEVEL });
    expect(answer.status).toBe(200);
    expect(answer.body.low).toBeLessThanOrEqual(0.8);
    expect(answer.body.high).toBeGreaterThanOrEqual(0.8);
  });

  it('does not credit fallback answers to the arm that answered: the statistics hold only the policy’s own choices', async () => {
    const { n } = (await evaluate({ policy: { type: 'single', variant: 'v3' } })).body;
    const spec = await http('GET', `${router.url}/v1/deployments/churn`);
    const counted = ['v1', 'v2', 'v3'].reduce((sum, v) => sum + (spec.body.report[v]?.served?.reward?.count ?? 0), 0);
    expect(counted).toBe(n);
    expect(spec.body.report.broken?.served?.reward).toBeUndefined();
  });

  it('refuses (422) a policy whose variant the logged traffic never served, saying which', async () => {
    // `broken` was chosen often but never answered: every one of its requests is a fallback answer.
    const answer = await evaluate({ policy: { type: 'single', variant: 'broken' } });
    expect(answer.status).toBe(422);
    expect(answer.body.message).toMatch(/variant "broken" has target probability 1 but was never served/);
    const unknown = await evaluate({ policy: { type: 'bandit', weights: { v1: 0.5, v9: 0.5 } } });
    expect(unknown.status).toBe(422);
    expect(unknown.body.reasons).toEqual(['variant "v9" has target probability 0.5 but was never served by the logged policy in the window']);
  });

  it('refuses (422) an empty window', async () => {
    const answer = await evaluate({ policy: { type: 'single', variant: 'v3' }, since: new Date(Date.now() + 3600_000).toISOString() });
    expect(answer.status).toBe(422);
    expect(answer.body.message).toMatch(/no joined, served traffic/);
  });

  it('answers 400 for a malformed body and 404 for an unknown deployment', async () => {
    const bad = await evaluate({ policy: { type: 'bandit', algorithm: 'thompson' } });
    expect(bad.status).toBe(400);
    expect(bad.body.problems).toContain(
      "policy.algorithm: an adaptive bandit cannot be evaluated off-policy; give fixed policy.weights instead, or a contextual one's models as type contextual",
    );
    expect((await evaluate('not json')).status).toBe(400);
    expect((await evaluate({ policy: { type: 'single', variant: 'v1' }, since: 'yesterday' })).status).toBe(400);
    expect((await evaluate({ policy: { type: 'single', variant: 'v1' } }, 'nope')).status).toBe(404);
  });

  /** A joined event of a canary deployment over variants a and b, as the joiner writes it. */
  const joined = (deployment: string, requestId: string, variant: string, probability: number, reward: number, at: string) =>
    joinedEvent({ requestId, deployment, variant, probability, reward, at, strategy: 'canary' });

  const canaryOfAB = (percent: number) => ({
    variants: [
      { name: 'a', url: 'http://127.0.0.1:9', model: 'm' },
      { name: 'b', url: 'http://127.0.0.1:9', model: 'm' },
    ],
    strategy: { type: 'canary', primary: 'a', canary: 'b', percent },
  });

  it('refuses (422) a policy the logged traffic says too little about: effective sample size below 30', async () => {
    // 200 requests logged 95/5: b served 10 times, each weighing 1/0.05 = 20 for `single b`, so its ESS is 10.
    expect((await http('PUT', `${router.url}/v1/deployments/starved?force=true`, canaryOfAB(5))).status).toBe(200);
    const producer = await producerFor(kafka);
    const at = new Date().toISOString();
    const messages = Array.from({ length: 200 }, (_, i) => joined('starved', `starved-${i}`, i % 20 === 0 ? 'b' : 'a', i % 20 === 0 ? 0.05 : 0.95, i % 2, at));
    await sendEvents(producer, topics.joined, messages);
    await producer.disconnect();
    const answer = await evaluate({ policy: { type: 'single', variant: 'b' } }, 'starved');
    expect(answer.status).toBe(422);
    expect(answer.body.reasons).toEqual(['effective sample size 10 is below 30: the logged traffic says too little about this policy']);
    // The same log answers for the arm it favoured.
    expect(await evaluate({ policy: { type: 'single', variant: 'a' } }, 'starved')).toMatchObject({ status: 200, body: { n: 200 } });
  });

  describe('scan cost', () => {
    let producer: Producer;
    afterAll(async () => producer?.disconnect());

    it(`reads ${SCAN_EVENTS} joined events of another deployment within a since/until window, and says how fast`, async () => {
      // Synthetic traffic logged 80/20 between two variants with 0/1 rewards, written as
      // the joiner writes it, to a deployment of its own in the same joined topic.
      const put = await http('PUT', `${router.url}/v1/deployments/scan?force=true`, canaryOfAB(20));
      expect(put.status).toBe(200);
      producer = await producerFor(kafka);
      const rng = seededRng(5);
      const since = new Date().toISOString();
      let rewardB = 0;
      let countB = 0;
      for (let start = 0; start < SCAN_EVENTS; start += 5000) {
        const messages = Array.from({ length: Math.min(5000, SCAN_EVENTS - start) }, (_, i) => {
          const onB = rng() < 0.2;
          const reward = rng() < (onB ? 0.6 : 0.5) ? 1 : 0;
          if (onB) {
            rewardB += reward;
            countB++;
          }
          return joined('scan', `scan-${start + i}`, onB ? 'b' : 'a', onB ? 0.2 : 0.8, reward, since);
        });
        await sendEvents(producer, topics.joined, messages);
      }
      const until = new Date(Date.now() + 1).toISOString();
      const answer = await evaluate({ policy: { type: 'single', variant: 'b' }, since, until }, 'scan');
      // The window holds these events only: the bandit traffic joined before `since` is not even read.
      expect(answer).toMatchObject({ status: 200, body: { n: SCAN_EVENTS, scanned: SCAN_EVENTS } });
      expect(answer.body.estimate).toBeCloseTo(rewardB / countB, 10); // single b: SNIPS is b's plain mean
      const perMillion = ((answer.body.scanMs / answer.body.scanned) * 1e6) / 1000;
      process.stdout.write(
        `evaluate scan: ${answer.body.scanned} events in ${answer.body.scanMs} ms (${Math.round((answer.body.scanned / answer.body.scanMs) * 1000)} events/s, ≈ ${perMillion.toFixed(1)} s per million)\n`,
      );
    });

    it('scans in a worker thread: predictions are answered while it runs, a second evaluate gets 429 with Retry-After, and the answer is the same', async () => {
      const policy = { policy: { type: 'single', variant: 'b' } };
      const alone = await evaluate(policy, 'scan');
      expect(alone.status).toBe(200);
      // The whole topic, again: while it is read, the router keeps answering.
      let done = false;
      const scanning = evaluate(policy, 'scan').finally(() => (done = true));
      const during: { predict: number; evaluate: number; retryAfter?: string }[] = [];
      while (!done) {
        const [predicted, refused] = await Promise.all([
          http('POST', `${router.url}/v1/deployments/churn/predict`, { inputs: toInferInputs([0.1, 0.2, 0.3, 0.4]) }),
          evaluate(policy, 'scan'),
        ]);
        if (!done) during.push({ predict: predicted.status, evaluate: refused.status, retryAfter: refused.headers['retry-after'] });
      }
      const answer = await scanning;
      expect(during.length).toBeGreaterThan(0);
      expect(during.every((d) => d.predict === 200 && d.evaluate === 429 && d.retryAfter === '5')).toBe(true);
      // The estimates that do not depend on the order partitions are read in (DM, DR and SNDR cross-fit in arrival order),
      // to 12 digits: sums taken in another order round differently in the last bits.
      const rounded = (value: unknown): unknown =>
        typeof value === 'number'
          ? Number(value.toPrecision(12))
          : value !== null && typeof value === 'object'
            ? Object.fromEntries(Object.entries(value).map(([key, field]) => [key, rounded(field)]))
            : value;
      const orderFree = ({ estimate, low, high, n, ess, scanned, excluded, meanWeight, estimators }: Record<string, any>) =>
        rounded({ estimate, low, high, n, ess, scanned, excluded, meanWeight, snips: estimators.snips, ips: estimators.ips });
      expect(orderFree(answer.body)).toEqual(orderFree(alone.body));
    });
  });
});
