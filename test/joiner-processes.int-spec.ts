import { PredictionEvent } from '@switchyard/contracts';
import { groundTruth, predict, randomFeatures, seededRng } from '@switchyard/demo-models';
import { Collector, groupCaughtUp, isolation, readThrough } from './support/kafka';
import { freePort, ServiceProcess } from './support/processes';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';
import { feedbackEvent, predictionEvent, sendEvents } from './support/events';

const REQUESTS = 2000;

/** Predictions (served and shadow) and feedback for REQUESTS requests, a tenth of each sent twice. */
function stream(): { predictions: PredictionEvent[]; feedback: object[] } {
  const rng = seededRng(11);
  const predictions: PredictionEvent[] = [];
  const feedback: object[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const features = randomFeatures(rng);
    const requestId = `req-${i}`;
    for (const [variant, model, role] of [
      ['v1', 'churn-v1', 'served'],
      ['s1', 'churn-v3', 'shadow'],
    ] as const) {
      const outputs = [{ name: 'label', shape: [1], datatype: 'INT64', data: [predict(model, features).label] }];
      predictions.push(predictionEvent({ requestId, deployment: 'churn', variant, role, strategy: 'shadow', outputs }));
    }
    feedback.push(feedbackEvent({ requestId, label: groundTruth(features) }));
  }
  return { predictions: [...predictions, ...predictions.slice(0, REQUESTS / 5)], feedback: [...feedback, ...feedback.slice(0, REQUESTS / 10)] };
}

/**
 * A flow of its own under a fresh prefix (in a private Redis when asked): the stack reads the
 * joined topic and creates the deployment; the test spawns the joiners, which die with the stack.
 */
function useFlow(name: string, privateRedis = false) {
  const stack = useStack({ ids: isolation(name), privateRedis, specLog: true, producer: true, collect: { joined: 'joined' } });
  const { kafka, topics, specs, producer, joined } = stack;
  const group = `joiner-${stack.ids.groupSuffix}`;
  // The spec log stays open through the flow: it restores the spec to a Redis restarted empty.
  beforeAll(() =>
    specs.put('churn', {
      variants: [
        { name: 'v1', url: 'http://127.0.0.1:9', model: 'churn-v1' },
        { name: 's1', url: 'http://127.0.0.1:9', model: 'churn-v3' },
      ],
      strategy: { type: 'shadow', primary: 'v1', shadows: ['s1'] },
    } as never),
  );
  const send = (topic: string, values: { requestId: string }[]) => sendEvents(producer, topic, values);
  /** Served predictions to their topic, shadow ones to theirs, as the router and the shadow worker publish them. */
  const sendPredictions = async (predictions: { requestId: string; role: string }[]) => {
    await send(
      topics.predictions,
      predictions.filter((p) => p.role === 'served'),
    );
    await send(
      topics.shadowPredictions,
      predictions.filter((p) => p.role === 'shadow'),
    );
  };
  const joinerEnv = { JOIN_GROUP: group, LOG_LEVEL: 'warn', KAFKA_SESSION_TIMEOUT_MS: '6000', JOIN_SWEEP_INTERVAL_MS: '500' };
  const spawnJoiner = (instance: string, port?: number) => stack.spawn('feedback-joiner', { ...joinerEnv, INSTANCE_ID: instance }, port);
  /** Waits until the joiners committed every input and the collector read every joined event. */
  const finish = async () => {
    await waitFor(() => groupCaughtUp(kafka, group, [topics.predictions, topics.shadowPredictions, topics.feedback]), {
      timeoutMs: 90000,
      what: 'the joiners to commit every input',
    });
    await readThrough(kafka, topics.joined, joined);
  };
  return { topics, joined, privateRedis: stack.privateRedis, send, sendPredictions, spawnJoiner, finish };
}

describe('feedback-joiner processes: SIGKILL and a shared consumer group', () => {
  const data = stream();

  function expectEachPairOnce(joined: Collector): void {
    const pairs = joined.messages.map((m) => `${m.value.requestId}/${m.value.variant}/${m.value.role}`);
    const counts = new Map<string, number>();
    for (const pair of pairs) counts.set(pair, (counts.get(pair) ?? 0) + 1);
    const repeated = [...counts].filter(([, count]) => count > 1);
    expect(repeated).toEqual([]);
    expect(counts.size).toBe(2 * REQUESTS);
  }

  describe('one joiner', () => {
    const flow = useFlow('joiner-kill');

    it('holds each pair exactly once after the joiner is SIGKILLed mid-stream and restarted', async () => {
      await flow.sendPredictions(data.predictions);
      const port = await freePort();
      const first = await flow.spawnJoiner('kill-test', port);
      await flow.send(flow.topics.feedback, data.feedback as { requestId: string }[]);
      await waitFor(() => flow.joined.messages.length >= REQUESTS / 4, { what: 'the joiner to be mid-stream' });
      first.child.kill('SIGKILL');
      await first.exited;
      const seenBeforeRestart = flow.joined.messages.length;
      expect(seenBeforeRestart).toBeLessThan(2 * REQUESTS);

      await flow.spawnJoiner('kill-test', port);
      await flow.finish();
      expectEachPairOnce(flow.joined);
    });
  });

  describe('two joiners', () => {
    const flow = useFlow('joiner-pair');

    it('splits the partitions between two joiners of one group and joins the same set as one', async () => {
      const [a, b] = [await flow.spawnJoiner('pair-a'), await flow.spawnJoiner('pair-b')];
      await flow.send(flow.topics.feedback, data.feedback as { requestId: string }[]);
      await flow.sendPredictions(data.predictions);
      await flow.finish();
      expectEachPairOnce(flow.joined);
      const joinedBy = async (joiner: ServiceProcess) => {
        const text = (await http('GET', `${joiner.url}/metrics`)).body as string;
        return [...text.matchAll(/^switchyard_joiner_joined_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
      };
      const [byA, byB] = [await joinedBy(a), await joinedBy(b)];
      expect(byA).toBeGreaterThan(0);
      expect(byB).toBeGreaterThan(0);
      expect(byA + byB).toBe(2 * REQUESTS);
    });
  });

  describe('two joiners on a private Redis', () => {
    const flow = useFlow('joiner-loss', true);

    it('joins every pair exactly once when Redis restarts empty mid-stream under two joiners', async () => {
      await Promise.all([flow.spawnJoiner('loss-a'), flow.spawnJoiner('loss-b')]);
      await flow.sendPredictions(data.predictions);
      const feedback = data.feedback as { requestId: string }[];
      await flow.send(flow.topics.feedback, feedback.slice(0, REQUESTS / 2));
      await waitFor(() => flow.joined.messages.length >= REQUESTS / 4, { what: 'the joiners to be mid-stream' });

      await flow.privateRedis.restartEmpty();
      // The joiners refuse to join until their rebuild from Kafka is over; the spec log puts the spec back.
      await flow.send(flow.topics.feedback, feedback.slice(REQUESTS / 2));
      await flow.finish();
      expectEachPairOnce(flow.joined);
      // Two joiners, a restart and a rebuild: 75 s alone on the 2-core machine, more when it is shared.
    }, 300000);
  });
});
