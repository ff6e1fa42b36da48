import { randomUUID } from 'node:crypto';
import { PredictionEvent, topicNames, validateDeploymentSpec } from '@switchyard/contracts';
import { JoinStateStore } from '@switchyard/store';
import { feedbackJoinerService } from '../apps/feedback-joiner/src/feedback-joiner.service-definition';
import { feedbackEvent, predictionEvent, sendEvents } from './support/events';
import { HOSTILE, HOSTILE_KEY } from './support/hostile';
import { groupCaughtUp, isolation, readThrough } from './support/kafka';
import { deleteByPrefix } from './support/redis';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

/**
 * Issue #26: a hostile record in the history the join state is rebuilt from (read back
 * after Redis lost its keys) is skipped with a counted reason; the rebuild completes, the
 * joiner consumes again, and no served or shadow join is lost or doubled.
 */
describe('the join-state rebuild over a history holding hostile records (real Kafka, Redis and joiner)', () => {
  const ids = isolation('hostile-history');
  const topics = topicNames(ids.topicPrefix);
  const group = `hostile-history-${ids.groupSuffix}`;
  const { kafka, producer, joiner, specs, joined, dlq } = useStack({
    ids,
    services: { joiner: [feedbackJoinerService, { JOIN_GROUP: group, JOIN_WINDOW_SECONDS: '300', JOIN_SWEEP_INTERVAL_MS: '200' }] },
    specLog: true,
    redis: true,
    producer: true,
    collect: { joined: 'joined', dlq: 'dlq' },
  });

  const prediction = (requestId: string, extra: Partial<PredictionEvent> = {}) =>
    predictionEvent({ requestId, deployment: 'hostile', strategy: 'shadow', outputs: 1, ...extra });
  const shadow = (requestId: string) => prediction(requestId, { variant: 's1', role: 'shadow' });
  const feedback = (requestId: string) => feedbackEvent({ requestId, reward: 1 });

  async function settled(): Promise<boolean> {
    if (!(await groupCaughtUp(kafka, group, [topics.predictions, topics.shadowPredictions, topics.feedback]))) return false;
    await readThrough(kafka, topics.joined, joined);
    return true;
  }
  const joinsOf = (requestId: string) =>
    joined.messages
      .filter((m) => m.key === requestId)
      .map((m) => m.value.role)
      .sort();
  const skipped = async () => {
    const metrics = (await http('GET', `${joiner.url}/metrics`)).body as string;
    return [...metrics.matchAll(/^switchyard_records_skipped_total\{[^}]*reader="join-state-rebuild"[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  };

  beforeAll(async () => {
    const spec = validateDeploymentSpec({
      variants: [
        { name: 'v1', url: 'http://127.0.0.1:9/', model: 'm' },
        { name: 's1', url: 'http://127.0.0.1:9/', model: 'm' },
      ],
      strategy: { type: 'shadow', primary: 'v1', shadows: ['s1'] },
      reward: { type: 'explicit' },
    });
    if (!spec.ok) throw new Error(spec.problems.join('; '));
    await specs.put('hostile', spec.value);
  });

  it('skips them with a counted reason, becomes ready again, and joins every served and shadow pair exactly once', async () => {
    const before = Array.from({ length: 10 }, (_, i) => `before-${randomUUID()}-${i}`);
    const joinedBefore = before.slice(0, 5);
    const pending = before.slice(5);
    // Hostile records in every topic the rebuild reads, between valid ones.
    await sendEvents(producer, topics.predictions, [...HOSTILE, ...before.map((id) => prediction(id))]);
    await sendEvents(producer, topics.shadowPredictions, [...HOSTILE, ...before.map(shadow)]);
    await sendEvents(producer, topics.feedback, [...HOSTILE, ...joinedBefore.map(feedback)]);
    await sendEvents(producer, topics.joined, HOSTILE);
    await waitFor(async () => (await settled()) && joinedBefore.every((id) => joinsOf(id).length === 2), { what: 'the first pairs joined' });
    // The live path dead-lettered each hostile record of its three inputs.
    await waitFor(() => dlq.messages.length >= 3 * HOSTILE.length, { what: 'the hostile records dead-lettered' });
    expect(dlq.messages.find((m) => m.value.topic === topics.feedback && m.key === HOSTILE_KEY)?.value.error).toBe(
      'invalid feedback: value is not valid JSON: nested deeper than 64 levels',
    );
    const dead = dlq.messages.length;

    // Redis loses the test's keys, the join state with them.
    await deleteByPrefix(ids.redisPrefix);
    const state = joiner.app.get(JoinStateStore);
    await waitFor(() => state.ready().catch(() => false), { what: 'the join state rebuilt', timeoutMs: 90000 });
    await waitFor(async () => (await http('GET', `${joiner.url}/readyz`)).status === 200, { what: 'the joiner ready again' });
    // Four topics read, each holding every hostile record (the joined topic from the window on); at
    // least once: a rebuild that began while the keys were still being deleted runs again.
    expect(await skipped()).toBeGreaterThanOrEqual(4 * HOSTILE.length);

    // Feedback again for the joined pairs, for the first time for the others; a new pair after the rebuild.
    const after = `after-${randomUUID()}`;
    await sendEvents(producer, topics.predictions, [prediction(after)]);
    await sendEvents(producer, topics.shadowPredictions, [shadow(after)]);
    await sendEvents(producer, topics.feedback, [...before, after].map(feedback));
    await waitFor(async () => (await settled()) && [...pending, after].every((id) => joinsOf(id).length === 2), { what: 'the pending pairs joined' });

    for (const id of [...before, after]) expect({ id, roles: joinsOf(id) }).toEqual({ id, roles: ['served', 'shadow'] });
    // The rebuild dead-lettered nothing again: the live path did once.
    expect(dlq.messages).toHaveLength(dead);
  });

  it('dead-letters feedback whose reward is outside the reward range, with the reason, and joins nothing of it', async () => {
    const requestId = `out-of-range-${randomUUID()}`;
    await sendEvents(producer, topics.predictions, [prediction(requestId)]);
    await waitFor(settled, { what: 'the prediction stored' });
    const before = dlq.messages.length;
    await sendEvents(producer, topics.feedback, [feedbackEvent({ requestId, reward: 1e150 })]);
    await waitFor(async () => (await settled()) && dlq.messages.length > before, { what: 'the DLQ record' });
    expect(dlq.messages.slice(before).map((m) => [m.key, m.value.error])).toEqual([
      [requestId, "feedback refused: reward 1e+150 is outside the deployment's reward range [0, 1]"],
    ]);
    expect(joinsOf(requestId)).toEqual([]);
  });
});
