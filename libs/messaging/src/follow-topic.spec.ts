import { EventEmitter } from 'node:events';
import type { Consumer, ConsumerConfig, EachBatchPayload, KafkaMessage } from 'kafkajs';
import { FollowedBatch, followTopic, FollowTopicOptions } from './follow-topic';

/** A kafkajs consumer stand-in: the test hands it batches and raises its events. */
function fakeKafka(offsets: { partition: number; low: string; high: string }[]) {
  const events = new EventEmitter();
  const calls: string[] = [];
  let eachBatch: ((payload: EachBatchPayload) => Promise<void>) | undefined;
  let config: ConsumerConfig | undefined;
  const consumer = {
    events: { END_BATCH_PROCESS: 'end', CRASH: 'crash' },
    on: (event: string, listener: (e: unknown) => void) => events.on(event, listener),
    connect: async () => void calls.push('connect'),
    subscribe: async ({ fromBeginning }: { fromBeginning: boolean }) => void calls.push(`subscribe fromBeginning=${fromBeginning}`),
    run: async (options: { eachBatch: typeof eachBatch }) => void (eachBatch = options.eachBatch),
    seek: ({ partition, offset }: { partition: number; offset: string }) => void calls.push(`seek ${partition}@${offset}`),
    disconnect: async () => void calls.push('disconnect'),
  } as unknown as Consumer;
  const deps = {
    consumer: (c: ConsumerConfig) => ((config = c), consumer),
    topicOffsets: async () => offsets,
    deleteGroup: async (groupId: string) => void calls.push(`delete ${groupId}`),
  };
  const message = (offset: number): KafkaMessage =>
    ({ offset: String(offset), key: Buffer.from('k'), value: Buffer.from(`v${offset}`), timestamp: '0', attributes: 0, headers: {} }) as KafkaMessage;
  /** Delivers a fetched batch (its first record at `first`) and then kafkajs's END_BATCH_PROCESS for it. */
  const fetch = async (partition: number, first: number, offsetsDelivered: number[], last = offsetsDelivered.at(-1) ?? first) => {
    const batch = { topic: 't', partition, messages: offsetsDelivered.map(message), firstOffset: () => String(first) };
    await eachBatch!({ batch, heartbeat: async () => undefined } as unknown as EachBatchPayload);
    events.emit('end', { payload: { partition, firstOffset: String(first), lastOffset: String(last) } });
  };
  const crash = (restart: boolean) => events.emit('crash', { payload: { error: new Error('crashed'), restart } });
  return { deps, calls, fetch, crash, config: () => config };
}

const settled = async (promise: Promise<void>) => {
  let state = 'pending';
  promise.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return state;
};

describe(followTopic.name, () => {
  const options = (over: Partial<FollowTopicOptions>, batches: FollowedBatch[]): FollowTopicOptions => ({
    topic: 't',
    groupId: 'g',
    from: 'beginning',
    onBatch: (batch) => void batches.push(batch),
    ...over,
  });

  it('reads from the beginning, hands over converted records, and is caught up at the end the topic had when it started', async () => {
    const kafka = fakeKafka([
      { partition: 0, low: '0', high: '3' },
      { partition: 1, low: '5', high: '5' },
    ]);
    const batches: FollowedBatch[] = [];
    const sut = await followTopic(kafka.deps, options({ consumer: { maxWaitTimeInMs: 1000 } }, batches));
    expect(kafka.calls).toEqual(['connect', 'subscribe fromBeginning=true']);
    expect(kafka.config()).toEqual({ groupId: 'g', maxWaitTimeInMs: 1000 });
    await kafka.fetch(0, 0, [0, 1]);
    expect(await settled(sut.caughtUp)).toBe('pending');
    // The last record is a transaction marker: never delivered, but the batch ends there.
    await kafka.fetch(0, 2, [], 2);
    expect(await settled(sut.caughtUp)).toBe('resolved');
    expect(batches.map((b) => [b.partition, b.messages.map((m) => m.offset)])).toEqual([[0, ['0', '1']]]);
    expect(batches[0].messages[0]).toMatchObject({ topic: 't', partition: 0, key: 'k', value: Buffer.from('v0') });
  });

  it('seeks given offsets, reads only those partitions, and ignores a batch fetched before the seek took effect', async () => {
    const kafka = fakeKafka([
      { partition: 0, low: '0', high: '10' },
      { partition: 1, low: '0', high: '10' },
    ]);
    const batches: FollowedBatch[] = [];
    const sut = await followTopic(kafka.deps, options({ from: new Map([[0, 4]]), until: new Map([[0, 6]]) }, batches));
    expect(kafka.calls).toEqual(['connect', 'subscribe fromBeginning=false', 'seek 0@4']);
    await kafka.fetch(0, 10, [10, 11]);
    await kafka.fetch(1, 4, [4, 5]);
    expect(batches).toEqual([]);
    expect(await settled(sut.caughtUp)).toBe('pending');
    await kafka.fetch(0, 4, [4, 5, 6]);
    expect(await settled(sut.caughtUp)).toBe('resolved');
    // A batch kafkajs delivers again holds nothing new.
    await kafka.fetch(0, 4, [4, 5, 6, 7]);
    expect(batches.map((b) => b.messages.map((m) => m.offset))).toEqual([['4', '5', '6'], ['7']]);
  });

  it('is caught up at once when there is nothing to read', async () => {
    const kafka = fakeKafka([{ partition: 0, low: '3', high: '3' }]);
    const sut = await followTopic(kafka.deps, options({}, []));
    expect(await settled(sut.caughtUp)).toBe('resolved');
  });

  it('fails on a crash kafkajs will not restart from, and on any crash of a follow that seeked (a restart loses the seeks)', async () => {
    const beginning = fakeKafka([{ partition: 0, low: '0', high: '3' }]);
    const following = await followTopic(beginning.deps, options({}, []));
    beginning.crash(true);
    expect(await settled(following.caughtUp)).toBe('pending');
    beginning.crash(false);
    expect(await settled(following.caughtUp)).toBe('rejected');

    const seeking = fakeKafka([{ partition: 0, low: '0', high: '3' }]);
    const ranged = await followTopic(seeking.deps, options({ from: new Map([[0, 0]]) }, []));
    seeking.crash(true);
    expect(await settled(ranged.caughtUp)).toBe('rejected');
  });

  it('leaves and deletes its group when stopped', async () => {
    const kafka = fakeKafka([{ partition: 0, low: '0', high: '0' }]);
    const sut = await followTopic(kafka.deps, options({ groupId: 'reader-1' }, []));
    await sut.stop();
    expect(kafka.calls.slice(-2)).toEqual(['disconnect', 'delete reader-1']);
  });
});
