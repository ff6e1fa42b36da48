import { logLevel } from 'kafkajs';
import { javaCompatiblePartitioner, KafkaConnection, readRange, readTopicRange, ScanTooLarge } from '@switchyard/messaging';
import { isolation, testKafka } from './support/kafka';

/** readRange over the real broker: a bounded read that ends, even on transaction markers. */
describe(readRange.name, () => {
  const ids = isolation('read-range');
  const topic = `${ids.topicPrefix}events`;
  const kafka = testKafka();
  const connection = new KafkaConnection({
    clientId: `test-read-range-${ids.groupSuffix}`,
    brokers: process.env.KAFKA_BROKERS!.split(','),
    logLevel: logLevel.NOTHING,
  });
  afterAll(() => connection.close());

  beforeAll(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] });
    await admin.disconnect();
    const producer = kafka.producer({ createPartitioner: javaCompatiblePartitioner });
    await producer.connect();
    await producer.send({ topic, messages: ['a', 'b', 'c', 'd'].flatMap((key) => [1, 2, 3].map((n) => ({ key, value: `${key}${n}` }))) });
    await producer.disconnect();
    // A transactional write leaves a commit marker as the last record of its partition.
    const transactional = kafka.producer({
      createPartitioner: javaCompatiblePartitioner,
      transactionalId: `tx-${ids.groupSuffix}`,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await transactional.connect();
    const tx = await transactional.transaction();
    await tx.send({ topic, messages: [{ key: 'a', value: 'a4' }] });
    await tx.commit();
    await transactional.disconnect();
  });

  it('reads every committed record up to the end, and stops (it would throw at its timeout otherwise)', async () => {
    const sut = await readRange(connection, topic, { timeoutMs: 20000 });
    expect(sut.map((m) => m.value).sort()).toEqual(['a1', 'a2', 'a3', 'a4', 'b1', 'b2', 'b3', 'c1', 'c2', 'c3', 'd1', 'd2', 'd3']);
  });

  it('reads only the partition of a key, filters and keeps the latest `limit`', async () => {
    const sut = await readRange(connection, topic, { key: 'a', filter: (m) => m.key === 'a', limit: 3 });
    expect(sut.map((m) => m.value)).toEqual(['a2', 'a3', 'a4']);
    const partition = sut[0].partition;
    const all = await readRange(connection, topic, { key: 'a' });
    expect(new Set(all.map((m) => m.partition))).toEqual(new Set([partition]));
  });

  it('answers nothing for an empty topic at once', async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: `${topic}-empty`, numPartitions: 2, replicationFactor: 1 }] });
    await admin.disconnect();
    expect(await readRange(connection, `${topic}-empty`)).toEqual([]);
  });

  it('refuses a range past maxMessages before reading, and stops past maxBytes (issue #25: a bounded scan)', async () => {
    const read: string[] = [];
    const onMessages = (messages: { value: Buffer | null }[]) => void read.push(...messages.map((m) => String(m.value)));
    // 13 records and a commit marker: 14 offsets.
    await expect(readTopicRange(connection, { topic, maxMessages: 13, onMessages })).rejects.toThrow(ScanTooLarge);
    await expect(readTopicRange(connection, { topic, maxMessages: 13, onMessages })).rejects.toThrow(/holds 14 records in the range; at most 13 are read$/);
    expect(read).toEqual([]);
    await expect(readTopicRange(connection, { topic, maxBytes: 4, onMessages, timeoutMs: 20000 })).rejects.toThrow(/holds more than 4 bytes in the range/);
    expect(read.length).toBeLessThan(13);
    const whole = await readTopicRange(connection, { topic, maxMessages: 14, maxBytes: 26, onMessages: () => undefined });
    expect(whole.delivered).toBe(13);
  });
});
