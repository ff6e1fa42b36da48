import { randomUUID } from 'node:crypto';
import { PredictionEvent, topicNames, validateDeploymentSpec } from '@switchyard/contracts';
import { JoinStateStore, ReportStore } from '@switchyard/store';
import { addReportCounts, pairField, reportCounts } from '@switchyard/strategies';
import { feedbackJoinerService } from '../apps/feedback-joiner/src/feedback-joiner.service-definition';
import { groupCaughtUp, isolation, readThrough } from './support/kafka';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';
import { feedbackEvent, predictionEvent, sendEvents } from './support/events';

/**
 * Join state per deployment and its rebuild after Redis is lost, over real Kafka and a
 * Redis of the test's own (restarted empty, as losing Redis looks).
 */
describe('join state per deployment, rebuilt from Kafka after Redis is lost', () => {
  const ids = isolation('join-state');
  const topics = topicNames(ids.topicPrefix);
  const group = `join-state-${ids.groupSuffix}`;
  const {
    kafka,
    producer,
    privateRedis: redis,
    joiner,
    specs,
    joined,
  } = useStack({
    ids,
    privateRedis: true,
    services: { joiner: [feedbackJoinerService, { JOIN_GROUP: group, JOIN_WINDOW_SECONDS: '300', JOIN_SWEEP_INTERVAL_MS: '200' }] },
    // Running through the test, the spec log restores the specs to a Redis restarted empty.
    specLog: true,
    producer: true,
    collect: { joined: 'joined' },
  });
  /** Every distinct prediction sent, by pair: what the reports must count. */
  const sent = new Map<string, PredictionEvent>();

  // Beta's are a bandit's, logged with propensities its report sums (1/p and 1/p² per arm) as well as counts.
  const prediction = (deployment: string, requestId: string) =>
    predictionEvent({
      requestId,
      deployment,
      strategy: deployment === 'beta' ? 'bandit' : 'single',
      probability: deployment === 'beta' ? 0.1 + (requestId.length % 7) / 10 : 1,
      outputs: 1,
      latencyMs: 1 + (requestId.length % 30),
    });
  const feedback = (requestId: string, reward: number, deployment?: string) => feedbackEvent({ requestId, reward, ...(deployment && { deployment }) });
  const send = (topic: string, values: { requestId: string }[]) => sendEvents(producer, topic, values);
  async function predict(values: PredictionEvent[]): Promise<void> {
    for (const p of values) if (!sent.has(`${p.requestId}\n${pairField(p)}`)) sent.set(`${p.requestId}\n${pairField(p)}`, p);
    await send(topics.predictions, values);
  }

  async function putSpecs(): Promise<void> {
    for (const name of ['alpha', 'beta']) {
      const spec = validateDeploymentSpec({
        variants: [{ name: 'v1', url: 'http://127.0.0.1:9/', model: 'm' }],
        strategy: { type: 'single', variant: 'v1' },
        reward: { type: 'explicit' },
      });
      if (!spec.ok) throw new Error(spec.problems.join('; '));
      await specs.put(name, spec.value);
    }
  }

  async function settled(): Promise<boolean> {
    if (!(await groupCaughtUp(kafka, group, [topics.predictions, topics.shadowPredictions, topics.feedback]))) return false;
    await readThrough(kafka, topics.joined, joined);
    return true;
  }

  const joinedFor = (requestId: string) => joined.messages.filter((m) => m.key === requestId).map((m) => m.value);

  /** What the report must hold: every distinct prediction sent, counted once. */
  function recount(deployment: string): Record<string, string> {
    const counts = new Map<string, number>();
    const units = new Map<string, number>();
    for (const p of sent.values()) if (p.deployment === deployment) addReportCounts(counts, reportCounts(p), units);
    return Object.fromEntries([...counts].map(([field, n]) => [field, String(n)]));
  }

  beforeAll(async () => {
    await putSpecs();
  });

  it('joins two deployments that share request ids, each with the feedback naming it, or both with feedback naming none', async () => {
    const shared = Array.from({ length: 10 }, (_, i) => `shared-${randomUUID()}-${i}`);
    const unscoped = `unscoped-${randomUUID()}`;
    await predict(shared.flatMap((id) => [prediction('alpha', id), prediction('beta', id)]));
    await send(
      topics.feedback,
      shared.flatMap((id) => [feedback(id, 1, 'alpha'), feedback(id, 0, 'beta')]),
    );
    await send(topics.feedback, [feedback(unscoped, 0.5)]);
    await predict([prediction('alpha', unscoped), prediction('beta', unscoped)]);
    await waitFor(async () => (await settled()) && joinedFor(unscoped).length >= 2 && shared.every((id) => joinedFor(id).length >= 2), {
      what: 'every pair joined',
    });

    for (const id of shared) {
      const events = joinedFor(id).sort((a, b) => a.deployment.localeCompare(b.deployment));
      expect(events.map((e) => [e.deployment, e.reward])).toEqual([
        ['alpha', 1],
        ['beta', 0],
      ]);
    }
    expect(
      joinedFor(unscoped)
        .map((e) => [e.deployment, e.reward])
        .sort(),
    ).toEqual([
      ['alpha', 0.5],
      ['beta', 0.5],
    ]);
    const reports = joiner.app.get(ReportStore);
    expect(await reports.read('alpha')).toEqual(recount('alpha'));
    expect(await reports.read('beta')).toEqual(recount('beta'));
  });

  it('after Redis restarts empty: joins a prediction from before with feedback from after exactly once, never emits a pair joined before again, and recounts the reports', async () => {
    const before = Array.from({ length: 20 }, (_, i) => `before-${randomUUID()}-${i}`);
    const joinedBefore = before.slice(0, 10);
    const pending = before.slice(10);
    const predictions = before.map((id) => prediction('alpha', id));
    // Duplicates (another offset) must not be counted twice, before or after the rebuild.
    await predict([...predictions, ...predictions.slice(0, 5)]);
    await send(
      topics.feedback,
      joinedBefore.map((id) => feedback(id, 1)),
    );
    await waitFor(async () => (await settled()) && joinedBefore.every((id) => joinedFor(id).length === 1), { what: 'the first ten pairs joined' });
    const reports = joiner.app.get(ReportStore);
    expect(await reports.read('alpha')).toEqual(recount('alpha'));

    await redis.restartEmpty();
    const state = joiner.app.get(JoinStateStore);
    await waitFor(() => state.ready().catch(() => false), { what: 'the join state rebuilt', timeoutMs: 90000 });
    expect(await reports.read('alpha')).toEqual(recount('alpha'));
    // The bandit's propensity sums recounted from the topic are the integers the live path added.
    expect(await reports.read('beta')).toEqual(recount('beta'));
    expect(Object.keys(await reports.read('beta'))).toEqual(expect.arrayContaining(['v1:served:ipw@1', 'v1:served:ipwSq@1']));

    // Feedback again for the pairs joined before, and for the first time for the others; duplicates of predictions too.
    await send(
      topics.feedback,
      before.map((id) => feedback(id, 0)),
    );
    await predict(predictions.slice(10, 15));
    const after = `after-${randomUUID()}`;
    await predict([prediction('alpha', after)]);
    await send(topics.feedback, [feedback(after, 1)]);
    await waitFor(async () => (await settled()) && joinedFor(after).length === 1 && pending.every((id) => joinedFor(id).length >= 1), {
      what: 'the pending pairs joined',
    });

    for (const id of joinedBefore) expect(joinedFor(id).map((e) => e.reward)).toEqual([1]);
    for (const id of pending) expect(joinedFor(id).map((e) => e.reward)).toEqual([0]);
    expect(await reports.read('alpha')).toEqual(recount('alpha'));
  });
});
