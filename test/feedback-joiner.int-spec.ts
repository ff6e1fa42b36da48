import { randomUUID } from 'node:crypto';
import { PredictionEvent, topicNames, validateDeploymentSpec } from '@switchyard/contracts';
import { groundTruth, toInferInputs } from '@switchyard/demo-models';
import { feedbackJoinerService } from '../apps/feedback-joiner/src/feedback-joiner.service-definition';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { ReportStore } from '@switchyard/store';
import { feedbackOutcomes, joinBucket, joinedEventId } from '@switchyard/strategies';
import { groupCaughtUp, isolation, readThrough } from './support/kafka';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';
import { feedbackEvent, predictionEvent, sendEvents } from './support/events';

const WINDOW_SECONDS = 4;

describe('feedback-joiner (real Kafka, Redis and model-server)', () => {
  const ids = isolation('joiner');
  const topics = topicNames(ids.topicPrefix);
  const group = `joiner-${ids.groupSuffix}`;
  const { kafka, producer, redis, modelServer, joiner, specs, joined, dlq } = useStack({
    ids,
    services: {
      modelServer: modelServerService,
      joiner: [feedbackJoinerService, { JOIN_GROUP: group, JOIN_WINDOW_SECONDS: String(WINDOW_SECONDS), JOIN_SWEEP_INTERVAL_MS: '200' }],
    },
    specLog: true,
    redis: true,
    producer: true,
    collect: { joined: 'joined', dlq: 'dlq' },
  });
  let perfectOutputs: unknown;
  const features = [0.9, 0.8, 0.1, 0.5];
  const truth = groundTruth(features);

  const prediction = (requestId: string, extra: Partial<PredictionEvent> = {}) =>
    predictionEvent({ requestId, deployment: 'churn', strategy: 'shadow', outputs: perfectOutputs, latencyMs: 3, ...extra });
  const feedback = (requestId: string, fields: { label?: unknown; reward?: number }) => feedbackEvent({ requestId, ...fields });
  const send = (topic: string, ...values: { requestId: string }[]) => sendEvents(producer, topic, values);

  /** The joiner committed every input, so its outputs exist, and the collector has read them all. */
  async function settled(): Promise<boolean> {
    if (!(await groupCaughtUp(kafka, group, [topics.predictions, topics.shadowPredictions, topics.feedback]))) return false;
    await readThrough(kafka, topics.joined, joined);
    return true;
  }

  const joinedFor = (requestId: string) => joined.messages.filter((m) => m.key === requestId).map((m) => m.value);
  const metrics = async () => (await http('GET', `${joiner.url}/metrics`)).body as string;
  /** What the deployment's status shows of its feedback that gave no reward (GET /v1/deployments/{name}'s `feedback`). */
  const outcomes = async (deployment: string) => feedbackOutcomes(await joiner.app.get(ReportStore).readFeedbackOutcomes(deployment));

  beforeAll(async () => {
    const put = async (name: string, plain: object) => {
      const spec = validateDeploymentSpec(plain);
      if (!spec.ok) throw new Error(spec.problems.join('; '));
      await specs.put(name, spec.value);
    };
    const variants = [
      { name: 'v1', url: modelServer.url, model: 'churn-perfect' },
      { name: 's1', url: modelServer.url, model: 'churn-v1' },
    ];
    await put('churn', { variants, strategy: { type: 'shadow', primary: 'v1', shadows: ['s1'] } });
    await put('scored', { variants, strategy: { type: 'single', variant: 'v1' }, reward: { type: 'explicit' } });
    const answer = await http('POST', `${modelServer.url}/v2/models/churn-perfect/infer`, { inputs: toInferInputs(features) });
    perfectOutputs = answer.body.outputs;
  });

  it('joins a prediction with later feedback exactly once, whatever is redelivered', async () => {
    const requestId = `p-first-${randomUUID()}`;
    const p = prediction(requestId);
    await send(topics.predictions, p, p);
    await waitFor(settled, { what: 'the prediction stored' });
    const f = feedback(requestId, { label: truth });
    await send(topics.feedback, f);
    await waitFor(() => joinedFor(requestId).length > 0, { what: 'the joined event' });

    await send(topics.predictions, prediction(requestId), p);
    await send(topics.feedback, f, feedback(requestId, { label: 1 - truth }));
    await waitFor(settled, { what: 'the duplicates processed' });

    expect(joinedFor(requestId)).toEqual([
      expect.objectContaining({
        type: 'joined',
        version: 1,
        eventId: joinedEventId(p),
        requestId,
        deployment: 'churn',
        variant: 'v1',
        role: 'served',
        specVersion: 1,
        outputs: perfectOutputs,
        label: truth,
        reward: 1,
        predictedAt: p.occurredAt,
        feedbackAt: f.occurredAt,
      }),
    ]);
  });

  it('joins feedback that arrives before its prediction, first feedback winning, exactly once', async () => {
    const requestId = `f-first-${randomUUID()}`;
    await send(topics.feedback, feedback(requestId, { label: 1 - truth }), feedback(requestId, { label: truth }));
    await waitFor(settled, { what: 'the feedback stored' });
    await send(topics.predictions, prediction(requestId));
    await waitFor(() => joinedFor(requestId).length > 0, { what: 'the joined event' });
    await send(topics.predictions, prediction(requestId));
    await send(topics.feedback, feedback(requestId, { label: truth }));
    await waitFor(settled, { what: 'the duplicates processed' });

    const events = joinedFor(requestId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ label: 1 - truth, reward: 0 });
  });

  it('emits one joined event for the served and one for each shadow prediction of a request', async () => {
    const requestId = `shadow-${randomUUID()}`;
    const wrong = [{ name: 'label', shape: [1], datatype: 'INT64', data: [1 - truth] }];
    await send(topics.predictions, prediction(requestId));
    await send(topics.shadowPredictions, prediction(requestId, { variant: 's1', role: 'shadow', outputs: wrong }));
    await send(topics.feedback, feedback(requestId, { label: truth }));
    await waitFor(() => joinedFor(requestId).length >= 2, { what: 'two joined events' });
    await waitFor(settled);

    const events = joinedFor(requestId).sort((a, b) => a.role.localeCompare(b.role));
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ variant: 'v1', role: 'served', reward: 1 });
    expect(events[1]).toMatchObject({ variant: 's1', role: 'shadow', reward: 0, outputs: wrong });
    expect(events[0].eventId).not.toBe(events[1].eventId);
  });

  it('uses an explicit reward, and counts a pair it cannot score instead of joining it', async () => {
    const scoredId = `explicit-${randomUUID()}`;
    const unscorableId = `unscorable-${randomUUID()}`;
    await send(topics.predictions, prediction(scoredId, { deployment: 'scored' }), prediction(unscorableId, { deployment: 'scored' }));
    await send(topics.feedback, feedback(scoredId, { reward: 0.7 }), feedback(unscorableId, { label: truth }));
    await waitFor(() => joinedFor(scoredId).length > 0, { what: 'the joined event' });
    await waitFor(settled);

    expect(joinedFor(scoredId)).toEqual([expect.objectContaining({ deployment: 'scored', reward: 0.7 })]);
    expect(joinedFor(scoredId)[0].label).toBeUndefined();
    expect(joinedFor(unscorableId)).toEqual([]);
    expect(await metrics()).toMatch(/switchyard_joiner_unjoinable_total\{[^}]*deployment="scored",variant="v1",cause="unscorable"[^}]*\} 1/);
    expect(await outcomes('scored')).toEqual({ unmatched: 0, unjoinable: { unscorable: 1 } });
  });

  it('joins a label that can never equal the output as 0, and counts it with its reason for the status', async () => {
    const requestId = `kind-${randomUUID()}`;
    await send(topics.predictions, prediction(requestId, { deployment: 'churn', role: 'served', variant: 'v1' }));
    await send(topics.feedback, feedback(requestId, { label: 'churned' }));
    await waitFor(() => joinedFor(requestId).length > 0, { what: 'the joined event' });
    expect(joinedFor(requestId)).toEqual([expect.objectContaining({ reward: 0, label: 'churned' })]);
    expect(await outcomes('churn')).toMatchObject({
      labelMismatch: { count: 1, last: 'a label of text can never equal the output (first value of the first output), a number (label "churned")' },
    });
  });

  it('sends what cannot be parsed or validated to the DLQ', async () => {
    const bad = `bad-${randomUUID()}`;
    await producer.send({ topic: topics.predictions, messages: [{ key: `${bad}-json`, value: '{oops' }] });
    await producer.send({
      topic: topics.feedback,
      messages: [
        { key: `${bad}-empty`, value: JSON.stringify(feedback(`${bad}-empty`, {})) },
        { key: `${bad}-id`, value: JSON.stringify({ requestId: 'no spaces allowed', label: 1 }) },
        { key: `${bad}-dep`, value: JSON.stringify({ ...feedback(`${bad}-dep`, { label: 1 }), deployment: 'Not A Name' }) },
      ],
    });
    const records = await waitFor(
      () => {
        const mine = dlq.messages.filter((m) => m.key?.startsWith(bad));
        return mine.length >= 4 ? mine : undefined;
      },
      { what: 'four DLQ records' },
    );
    const byKey = Object.fromEntries(records.map((m) => [m.key, m.value]));
    expect(byKey[`${bad}-json`]).toMatchObject({
      topic: topics.predictions,
      value: '{oops',
      consumerGroup: group,
      error: expect.stringContaining('not valid JSON'),
    });
    expect(byKey[`${bad}-empty`].error).toContain('needs a label or a reward');
    expect(byKey[`${bad}-id`].error).toContain('requestId');
    expect(byKey[`${bad}-dep`].error).toContain('deployment must be a deployment name');
  });

  it('counts feedback and predictions that found no partner within the window, and removes their state', async () => {
    const lonePrediction = `lone-p-${randomUUID()}`;
    const loneFeedback = `lone-f-${randomUUID()}`;
    await send(topics.predictions, prediction(lonePrediction, { deployment: 'lonely' }));
    const loneNamed = `lone-n-${randomUUID()}`;
    const named = { ...feedback(loneNamed, { label: 1 }), deployment: 'churn' };
    await send(topics.feedback, feedback(loneFeedback, { label: 1 }), named);
    await waitFor(settled);
    const requestKey = (requestId: string) => `${ids.redisPrefix}{join.${joinBucket(requestId)}}:r:${requestId}`;
    const key = requestKey(lonePrediction);
    expect(await redis.ttl(key)).toBeGreaterThan(WINDOW_SECONDS);

    const text = await waitFor(
      async () => {
        const text = await metrics();
        return /switchyard_joiner_predictions_unlabelled_total\{[^}]*deployment="lonely"[^}]*\} 1/.test(text) ? text : undefined;
      },
      { what: 'the unlabelled prediction counted', timeoutMs: (WINDOW_SECONDS + 10) * 1000 },
    );
    expect(text).toMatch(/switchyard_joiner_predictions_unlabelled_total\{[^}]*deployment="lonely",variant="v1",role="served"[^}]*\} 1/);
    await waitFor(async () => /switchyard_joiner_feedback_unmatched_total(\{[^}]*\})? 2\b/.test(await metrics()), { what: 'the unmatched feedback counted' });
    // The one naming its deployment is counted for that deployment's status; the other names none.
    expect((await outcomes('churn')).unmatched).toBe(1);
    expect(await redis.exists(key, requestKey(loneFeedback))).toBe(0);
    expect(await redis.zscore(`${ids.redisPrefix}{join.${joinBucket(lonePrediction)}}:seen`, lonePrediction)).toBeNull();
  });
});
