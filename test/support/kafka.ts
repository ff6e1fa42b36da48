import { randomBytes } from 'node:crypto';
import { Consumer, Kafka, logLevel, Partitioners, Producer } from 'kafkajs';
import { waitFor } from './wait';

export function testKafka(): Kafka {
  return new Kafka({ clientId: `test-${randomBytes(3).toString('hex')}`, brokers: process.env.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING });
}

/** Unique per test file and run: topic prefix, Redis prefix and group ids never collide. */
export function isolation(name: string) {
  const id = `${process.env.TEST_RUN_ID ?? 'local'}-${name}-${randomBytes(2).toString('hex')}`;
  return { topicPrefix: `sy-${id}.`, redisPrefix: `sy-${id}:`, groupSuffix: id };
}

export interface Received {
  key: string | null;
  value: any;
  raw: string | null;
  headers: Record<string, string>;
  partition: number;
  offset: string;
}

export interface Collector {
  messages: Received[];
  /** Ids of the barriers (see `readThrough`) seen, per partition. */
  barriers: Set<string>;
  stop: () => Promise<void>;
  consumer: Consumer;
}

/** Reads a topic from the beginning (committed messages only) into `messages` until `stop()`. */
export async function collect(kafka: Kafka, topic: string): Promise<Collector> {
  const messages: Received[] = [];
  const barriers = new Set<string>();
  const consumer = kafka.consumer({ groupId: `collector-${randomBytes(4).toString('hex')}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message, partition }) => {
      const raw = message.value?.toString() ?? null;
      let value: unknown = raw;
      try {
        value = raw === null ? null : JSON.parse(raw);
      } catch {
        // Kept raw: some tests send bytes that are not JSON on purpose.
      }
      if (message.headers?.barrier) return void barriers.add(`${message.headers.barrier}/${partition}`);
      const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
      messages.push({ key: message.key?.toString() ?? null, value, raw, headers, partition, offset: message.offset });
    },
  });
  return { messages, barriers, consumer, stop: () => consumer.disconnect() };
}

/**
 * The tests' producer: idempotent (acks all, kafkajs retries for ever with the same
 * sequence numbers), so a request retried under load is never written twice — a plain
 * producer once wrote 5041 messages for 5000.
 */
export async function producerFor(kafka: Kafka): Promise<Producer> {
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 5,
    retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 5000 },
  });
  await producer.connect();
  return producer;
}

/**
 * Deletes the topics a test file created (its isolation prefix). A development broker
 * that runs the suite again and again otherwise gathers tens of thousands of partitions
 * and dies of "Too many open files"; a failure here is reported, never a test's failure.
 */
export async function deleteTopicsByPrefix(kafka: Kafka, prefix: string): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30000 });
  } catch (error) {
    console.warn(`could not delete the topics under ${prefix}: ${(error as Error).message}`);
  } finally {
    await admin.disconnect();
  }
}

/** Whether `groupId` has committed every partition of `topics` up to its end. */
export async function groupCaughtUp(kafka: Kafka, groupId: string, topics: string[]): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const committed = await admin.fetchOffsets({ groupId, topics });
    for (const topic of topics) {
      const at = new Map(committed.find((c) => c.topic === topic)!.partitions.map((p) => [p.partition, Number(p.offset)]));
      const ends = await admin.fetchTopicOffsets(topic);
      if (!ends.every((end) => Number(end.high) === 0 || at.get(end.partition) === Number(end.high))) return false;
    }
    return true;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Writes a barrier to every partition of `topic` and waits until `collector` has read
 * them all: it has then read everything committed to the topic before the barriers.
 */
export async function readThrough(kafka: Kafka, topic: string, collector: Collector): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const partitions = (await admin.fetchTopicOffsets(topic)).map((p) => p.partition);
  await admin.disconnect();
  const id = randomBytes(4).toString('hex');
  const producer = await producerFor(kafka);
  await producer.send({ topic, messages: partitions.map((partition) => ({ partition, key: null, value: '', headers: { barrier: id } })) });
  await producer.disconnect();
  await waitFor(() => partitions.every((partition) => collector.barriers.has(`${id}/${partition}`)), { what: `the barrier on ${topic}` });
}
