import { register } from 'prom-client';
import { ConsumerMonitor } from './consumer-monitor';

describe(ConsumerMonitor.name, () => {
  const offsets = { committed: '0', high: '10' };
  const lookups = {
    committedOffsets: async () => [{ topic: 't', partitions: [{ partition: 0, offset: offsets.committed }] }],
    topicOffsets: async () => [{ partition: 0, high: offsets.high, low: '0' }],
  };
  const make = () => new ConsumerMonitor({ offsets: lookups, groupId: 'g', topics: ['t'], stuckAttempts: 3, stallMs: 1000, intervalMs: 60000 });

  it('is ready while a failing message has fewer attempts than the limit, stuck after', () => {
    const sut = make();
    sut.assigned({ t: [0] });
    sut.failed('t', 0, '5', 2, 'ReplyError: WRONGTYPE');
    expect(sut.problems()).toEqual([]);
    sut.failed('t', 0, '5', 3, 'ReplyError: WRONGTYPE');
    expect(sut.problems()).toEqual(['t/0 stuck at offset 5 after 3 failed attempts: ReplyError: WRONGTYPE']);
    sut.progressed('t', 0);
    expect(sut.problems()).toEqual([]);
  });

  it('reports a partition with lag and no progress for longer than the stall time', async () => {
    const sut = make();
    sut.assigned({ t: [0] });
    await sut.sample();
    expect(sut.problems(Date.now() + 500)).toEqual([]);
    expect(sut.problems(Date.now() + 5000)).toEqual([expect.stringMatching(/^t\/0 made no progress for \d+ s with lag 10$/)]);
    offsets.committed = '10';
    await sut.sample();
    expect(sut.problems(Date.now() + 5000)).toEqual([]);
    await sut.stop();
  });

  it('reports a crash kafkajs will not restart from', () => {
    const sut = make();
    sut.crashedForGood(new Error('fatal'));
    expect(sut.problems()).toEqual(['consumer g crashed and will not restart: Error: fatal']);
  });

  it('says in switchyard_consumer_stalled, by group and reason, what of a running consumer cannot make progress', async () => {
    const stalled = async () =>
      Object.fromEntries(
        (await register.getSingleMetric('switchyard_consumer_stalled')!.get()).values
          .filter((v) => v.labels.group === 'g')
          .map((v) => [v.labels.reason, v.value]),
      );
    const sut = make();
    sut.start();
    sut.assigned({ t: [0, 1] });
    expect(await stalled()).toEqual({ crashed: 0, failing: 0, 'no-progress': 0 });
    sut.failed('t', 0, '5', 3, 'TransientError: the join state was lost (Redis restarted empty?) and is being rebuilt from Kafka');
    sut.failed('t', 1, '9', 4, 'TransientError: the join state was lost (Redis restarted empty?) and is being rebuilt from Kafka');
    expect(await stalled()).toEqual({ crashed: 0, failing: 2, 'no-progress': 0 });
    sut.crashedForGood(new Error('fatal'));
    expect(await stalled()).toEqual({ crashed: 1, failing: 2, 'no-progress': 0 });
    await sut.stop();
    expect(await stalled()).toEqual({});
  });
});
