import { JoinedEvent, topicNames } from '@switchyard/contracts';
import { ArmStatsStore } from '@switchyard/store';
import { banditUpdaterService } from '../apps/bandit-updater/src/bandit-updater.service-definition';
import { joinedEvent } from './support/events';
import { groupCaughtUp, isolation } from './support/kafka';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

function joined(requestId: string, deployment: string): JoinedEvent {
  return { ...joinedEvent({ requestId, deployment, variant: 'a', reward: 1 }), strategy: 'single', probability: 1 };
}

/**
 * One poison message: a valid joined event whose deployment's arm set in Redis holds a
 * corrupt value (a string where a hash belongs), so the updater's Lua script fails on it
 * with WRONGTYPE every time, and only on it.
 */
describe('a poison message (real Kafka, Redis and bandit-updater)', () => {
  const ids = isolation('poison');
  const topics = topicNames(ids.topicPrefix);
  const group = `updater-${ids.groupSuffix}`;
  const ATTEMPTS = 3;
  const { kafka, producer, updater, dlq, redis } = useStack({
    ids,
    services: {
      updater: [
        banditUpdaterService,
        {
          UPDATE_GROUP: group,
          POISON_ATTEMPTS: String(ATTEMPTS),
          CONSUMER_RETRY_BASE_MS: '20',
          CONSUMER_RETRY_MAX_MS: '200',
          CONSUMER_LAG_INTERVAL_MS: '500',
        },
      ],
    },
    redis: true,
    producer: true,
    collect: { dlq: 'dlq' },
  });

  it('goes to the DLQ after POISON_ATTEMPTS failures with the reason and the count, and the rest of its partition is processed', async () => {
    await redis.set(updater.app.get(ArmStatsStore).armsKey('corrupt'), 'not a hash');
    const before = Array.from({ length: 20 }, (_, i) => joined(`before-${i}`, 'fine'));
    const poison = joined('poison-1', 'corrupt');
    const after = Array.from({ length: 20 }, (_, i) => joined(`after-${i}`, 'fine'));
    // One partition, in this order, in one produce request: the poison sits mid-batch.
    const [{ baseOffset }] = await producer.send({
      topic: topics.joined,
      messages: [...before, poison, ...after].map((event) => ({ partition: 2, key: event.requestId, value: JSON.stringify(event) })),
    });

    await waitFor(() => groupCaughtUp(kafka, group, [topics.joined]), { what: 'the updater to commit past the poison message' });
    const stats = await updater.app.get(ArmStatsStore).read('fine');
    expect(stats).toEqual({ a: { count: 40, sum: 40, sumSq: 40 } });

    await waitFor(() => dlq.messages.length >= 1, { what: 'the DLQ record' });
    expect(dlq.messages).toHaveLength(1);
    const record = dlq.messages[0];
    expect(record.key).toBe('poison-1');
    expect(record.value).toMatchObject({
      topic: topics.joined,
      partition: 2,
      offset: String(Number(baseOffset) + 20),
      key: 'poison-1',
      value: JSON.stringify(poison),
      consumerGroup: group,
      attempts: ATTEMPTS,
    });
    expect(record.value.error).toMatch(/^failed 3 times: ReplyError: WRONGTYPE/);

    const metrics = (await http('GET', `${updater.url}/metrics`)).body as string;
    expect(metrics).toMatch(new RegExp(`switchyard_consumer_dlq_total\\{[^}]*cause="poison"[^}]*\\} 1`));
    expect(metrics).toMatch(new RegExp(`switchyard_consumer_failures_total\\{[^}]*kind="permanent"[^}]*\\} ${ATTEMPTS}`));
    // Lag is sampled from committed offsets against high-water marks.
    await waitFor(async () => /switchyard_consumer_lag\{[^}]*partition="2"[^}]*\} 0/.test((await http('GET', `${updater.url}/metrics`)).body), {
      what: 'the lag gauge at 0',
    });
    // Moved on: not stuck, so still ready.
    expect((await http('GET', `${updater.url}/readyz`)).status).toBe(200);
  });

  it('is not ready while a message keeps failing with a transient error, and resumes when it clears', async () => {
    // A Redis script answering BUSY is transient: retried without limit, never dead-lettered.
    const store = updater.app.get(ArmStatsStore);
    const original = store.applyRewards.bind(store);
    let busy = true;
    const spy = jest.spyOn(store, 'applyRewards').mockImplementation(async (partition, records, startPositions) => {
      if (busy && records.some((r) => r.deployment === 'busy')) throw Object.assign(new Error('BUSY Redis is busy running a script'), { name: 'ReplyError' });
      return original(partition, records, startPositions);
    });
    try {
      await producer.send({ topic: topics.joined, messages: [{ partition: 1, key: 'busy-1', value: JSON.stringify(joined('busy-1', 'busy')) }] });
      await waitFor(async () => (await http('GET', `${updater.url}/readyz`)).status === 503, { what: '/readyz to report the stuck partition' });
      const body = (await http('GET', `${updater.url}/readyz`)).body;
      expect(JSON.stringify(body)).toMatch(/stuck at offset \d+ after \d+ failed attempts: ReplyError: BUSY/);
      busy = false;
      await waitFor(() => groupCaughtUp(kafka, group, [topics.joined]), { what: 'the updater to apply the event once Redis answers' });
      await waitFor(async () => (await http('GET', `${updater.url}/readyz`)).status === 200, { what: '/readyz ready again' });
      expect(dlq.messages).toHaveLength(1);
      expect((await store.read('busy')).a.count).toBe(1);
    } finally {
      spy.mockRestore();
    }
  });
});
