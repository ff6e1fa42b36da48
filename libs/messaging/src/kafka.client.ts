import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { KafkaConfig, logLevel, Producer, ProducerBatch, RecordMetadata, SASLOptions, TopicMessages } from 'kafkajs';
import { TopicKey, TopicMap, topicNames, TOPICS } from '@switchyard/contracts';
import { BaseEnv, HealthRegistry, retry, SERVICE_NAME } from '@switchyard/runtime';
import { BatchingProducer, OutboundMessage } from './batching-producer';
import { KafkaConsumerServer } from './consumer.server';
import { hasCause, isRetriable } from './failures';
import { KafkaConnection } from './kafka-connection';
import { kafkaLogCreator } from './kafka-logger';
import { javaCompatiblePartitioner, partitionForKey } from './partitioner';
import { recordingPartitioner, sendBatchCompletely } from './complete-send';

/** The most produce requests in flight per connection that keeps an idempotent producer's ordering (Kafka's limit is 5). */
export const IDEMPOTENT_MAX_IN_FLIGHT = 5;

const BROKEN_SEQUENCE = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
  'INVALID_PRODUCER_ID_MAPPING',
  'DUPLICATE_SEQUENCE_NUMBER',
]);

/** The broker refused the idempotent producer's sequence or id: that producer will never send again. */
export const isBrokenSequence = (error: unknown): boolean => hasCause(error, (e) => e.type !== undefined && BROKEN_SEQUENCE.has(e.type));

/** Retry for ever (what kafkajs defaults to for idempotence), at most 5 s apart, so a send resumes soon after a broker returns. */
export const IDEMPOTENT_RETRY = { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 5000 };

/**
 * Replication of the topics a service creates: `TOPIC_REPLICATION` when set, else 3 on a
 * cluster of 3 or more brokers (1 on a single broker). With 3 or more replicas,
 * `min.insync.replicas` 2: an acks=all write survives the loss of any one broker.
 */
export function replicationFor(brokers: number, configured?: number): { factor: number; minInsyncReplicas?: number } {
  const factor = configured ?? (brokers >= 3 ? 3 : 1);
  return factor >= 3 ? { factor, minInsyncReplicas: 2 } : { factor };
}

/**
 * How a service connects to Kafka, as plain data (a worker thread gets it to open a
 * connection of its own); the logger is the caller's.
 */
export function kafkaConnectionConfig(env: BaseEnv, clientId: string): KafkaConfig {
  return {
    // Unique per replica (broker logs, quotas and metrics tell them apart): service name plus instance, or host, pid and a random part.
    clientId: `${clientId}-${env.INSTANCE_ID ?? `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`}`,
    brokers: env.KAFKA_BROKERS.split(','),
    retry: { initialRetryTime: 100, retries: 8 },
    ssl: env.KAFKA_SSL === 'true',
    ...(env.KAFKA_SASL_MECHANISM && {
      sasl: { mechanism: env.KAFKA_SASL_MECHANISM, username: env.KAFKA_SASL_USERNAME ?? '', password: env.KAFKA_SASL_PASSWORD ?? '' } as SASLOptions,
    }),
  };
}

/**
 * The one Kafka connection of a service: topic setup at start, a batching producer for
 * every publisher, the consumer transport, a readiness check, and (as a
 * `KafkaConnection`) the shared admin client and the readers.
 */
@Injectable()
export class KafkaClient extends KafkaConnection implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(KafkaClient.name);
  readonly topics: TopicMap;
  private producer: Producer;
  private producerReady?: Promise<void>;
  /** More than one broker: each kafkajs sendBatch then carries one partition (see `sendBatch`). */
  private multiBroker = false;
  private roundRobin = 0;
  private readonly batcher: BatchingProducer;
  private knownTopics = new Set<string>();
  private topicsListedAt = 0;
  private listing?: Promise<void>;

  constructor(
    private readonly env: BaseEnv,
    private readonly health: HealthRegistry,
    @Inject(SERVICE_NAME) readonly clientId: string,
  ) {
    super({ ...kafkaConnectionConfig(env, clientId), logLevel: logLevel.WARN, logCreator: kafkaLogCreator });
    this.topics = topicNames(env.TOPIC_PREFIX);
    // murmur2 like the Java client, so a requestId lands on the same partition number
    // whichever client produced it (predictions from us, feedback from anyone).
    this.producer = this.newProducer();
    this.batcher = new BatchingProducer(
      { sendBatch: (batch) => this.sendBatch(batch) },
      { ...env.producerBatching(), maxInFlight: env.PRODUCER_MAX_IN_FLIGHT },
    );
  }

  /**
   * Idempotent (acks all, which kafkajs sends by default): a produce request retried
   * after a lost answer is not written twice. kafkajs then retries for ever (its sequence
   * numbers would break otherwise) and sends one request per broker at a time.
   */
  private newProducer(): Producer {
    return this.kafka.producer({
      allowAutoTopicCreation: false,
      createPartitioner: recordingPartitioner(javaCompatiblePartitioner),
      idempotent: true,
      maxInFlightRequests: IDEMPOTENT_MAX_IN_FLIGHT,
      // Bounded retries would let kafkajs reuse a failed request's sequence numbers for
      // the next one, which the broker may then drop as a duplicate of a write it did make.
      retry: IDEMPOTENT_RETRY,
    });
  }

  /**
   * kafkajs 2.2.4 never recovers an idempotent producer whose sequence numbers the broker
   * refused (seen when a partition leader died with requests in flight): every later
   * send fails the same way. Such a producer is replaced by a new one (a new producer
   * id, sequences from 0); the sends that failed were not written, and their callers
   * got the error.
   */
  private async sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]> {
    await this.producerReady;
    const producer = this.producer;
    const send = (b: ProducerBatch) =>
      sendBatchCompletely(
        (one) => producer.sendBatch(one),
        b,
        (missing) => this.logger.warn({ missing }, 'kafkajs reported partitions as sent that it never sent (leader moved); sending them again'),
      );
    try {
      if (!this.multiBroker) return await send(batch);
      // kafkajs 2.2.4 retries a request that spanned several brokers wrongly when one dies:
      // it re-sent a partition whose first write had landed, with new sequence numbers (two
      // prediction events for one request in the fault suite). One partition per sendBatch
      // is one broker per retry; kafkajs still sends them one request per broker at a time.
      const groups = await this.byPartition(batch.topicMessages ?? []);
      return (await Promise.all(groups.map((topicMessages) => send({ ...batch, topicMessages: [topicMessages] })))).flat();
    } catch (error) {
      if (producer === this.producer && isBrokenSequence(error)) {
        this.logger.error({ error: (error as Error).message }, "the broker refused the idempotent producer's sequence; replacing the producer");
        this.producer = this.newProducer();
        this.producerReady = this.producer.connect().catch((e: Error) => this.logger.error({ error: e.message }, 'could not connect the new producer'));
        void producer.disconnect().catch(() => undefined);
      }
      throw error;
    }
  }

  /** Messages grouped by the partition the partitioner would choose, each pinned to it. */
  private async byPartition(topicMessages: TopicMessages[]): Promise<TopicMessages[]> {
    const groups = new Map<string, TopicMessages>();
    for (const { topic, messages } of topicMessages) {
      const count = await this.partitionCount(topic);
      for (const message of messages) {
        const partition =
          message.partition ?? (message.key === null || message.key === undefined ? this.roundRobin++ % count : partitionForKey(message.key, count));
        const key = `${topic}/${partition}`;
        const group = groups.get(key) ?? groups.set(key, { topic, messages: [] }).get(key)!;
        group.messages.push({ ...message, partition });
      }
    }
    return [...groups.values()];
  }

  async onModuleInit(): Promise<void> {
    await this.admin();
    await this.ensureTopics();
    this.multiBroker = (await this.brokerCount()) > 1;
    await this.producer.connect();
    this.health.register('kafka', async () => {
      await this.brokerCount();
    });
  }

  /**
   * Creates every Switchyard topic that is missing; safe to run from many processes at
   * once. kafkajs's wait for the new topics' leaders gives up on a broker that does not
   * know a topic yet (UNKNOWN_TOPIC_OR_PARTITION, retriable), seen on a loaded machine:
   * such an error starts the check over.
   */
  ensureTopics(): Promise<void> {
    return retry(() => this.createMissingTopics(), {
      attempts: 20,
      baseMs: 200,
      maxMs: 1000,
      retryIf: isRetriable,
      onRetry: (error, attempt) => this.logger.warn({ error: (error as Error).message, attempt }, 'topics not ready yet; checking again'),
    });
  }

  private async createMissingTopics(): Promise<void> {
    const admin = await this.admin();
    const existing = new Set(await admin.listTopics());
    const missing = Object.values(this.topics).filter((topic) => !existing.has(topic));
    if (!missing.length) return;
    const replication = replicationFor(await this.brokerCount(), this.env.TOPIC_REPLICATION);
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((topic) => ({
        topic,
        numPartitions: this.env.TOPIC_PARTITIONS,
        replicationFactor: replication.factor,
        configEntries: [
          ...(replication.minInsyncReplicas ? [{ name: 'min.insync.replicas', value: String(replication.minInsyncReplicas) }] : []),
          // The spec log is the registry's record: it must outlive any retention period.
          ...(topic === this.topics.deploymentSpecs ? [{ name: 'retention.ms', value: '-1' }] : []),
          // Only each store's latest checkpoint matters: compacted, kept forever, cleaned soon.
          ...(topic === this.topics.checkpoints
            ? [
                { name: 'cleanup.policy', value: 'compact' },
                { name: 'segment.ms', value: '600000' },
                { name: 'min.cleanable.dirty.ratio', value: '0.1' },
              ]
            : []),
        ],
      })),
    });
    this.logger.log({ topics: missing, ...replication }, 'created topics');
  }

  /**
   * Whether a topic exists, from a list refreshed at most once a second on a miss, so
   * a stream of requests naming a missing reply topic costs no metadata storm.
   */
  async topicExists(topic: string): Promise<boolean> {
    if (this.knownTopics.has(topic)) return true;
    // Concurrent callers share one listing, so none reads the set while it is stale.
    if (!this.listing && Date.now() - this.topicsListedAt > 1000) {
      this.topicsListedAt = Date.now();
      this.listing = this.admin()
        .then((admin) => admin.listTopics())
        .then((topics) => void (this.knownTopics = new Set(topics)))
        .finally(() => (this.listing = undefined));
    }
    await this.listing;
    return this.knownTopics.has(topic);
  }

  /**
   * The consumer transport of a service: `@EventPattern(TOPICS.x)` handlers get the
   * batches of topic `x`; rejects go to the DLQ through this client's producer.
   */
  consumerServer(groupId: string, keys: TopicKey[], options: { transactionalId?: string } = {}): KafkaConsumerServer {
    return new KafkaConsumerServer({
      ...options,
      kafka: { consumer: (config) => this.kafka.consumer(config), producer: (config) => this.kafka.producer(config) },
      offsets: this,
      groupId,
      topics: Object.fromEntries(keys.map((key) => [TOPICS[key], this.topics[key]])),
      dlqTopic: this.topics.dlq,
      publish: (topic, messages) => this.publish(topic, messages),
      sessionTimeoutMs: this.env.KAFKA_SESSION_TIMEOUT_MS,
      heartbeatIntervalMs: this.env.KAFKA_HEARTBEAT_MS,
      poisonAttempts: this.env.POISON_ATTEMPTS,
      retry: { baseMs: this.env.CONSUMER_RETRY_BASE_MS, maxMs: this.env.CONSUMER_RETRY_MAX_MS },
      stallMs: this.env.CONSUMER_STALL_MS,
      lagIntervalMs: this.env.CONSUMER_LAG_INTERVAL_MS,
      health: this.health,
    });
  }

  /** Resolves when the broker has acknowledged every message; batched with concurrent sends. */
  publish(topic: string, messages: OutboundMessage[]): Promise<void> {
    return this.batcher.send(topic, messages);
  }

  /**
   * Appends one JSON record on its own (not batched with other sends) and answers where
   * the broker put it, for a writer that then waits for its record to be read back.
   */
  async appendJson(topic: string, key: string, value: unknown): Promise<{ partition: number; offset: number }> {
    const [sent] = await this.sendBatch({ topicMessages: [{ topic, messages: [{ key, value: JSON.stringify(value) }] }], acks: -1 });
    return { partition: sent.partition, offset: Number(sent.baseOffset) };
  }

  /** Tombstones of `keys` on a compacted topic (compaction then removes every record of each), acknowledged by every in-sync replica. */
  async appendTombstones(topic: string, keys: string[]): Promise<void> {
    await this.sendBatch({ topicMessages: [{ topic, messages: keys.map((key) => ({ key, value: null })) }], acks: -1 });
  }

  /** JSON-encodes `value`; keyed so related events share a partition. */
  publishJson(topic: string, key: string, value: unknown, headers?: Record<string, string>): Promise<void> {
    return this.publish(topic, [{ key, value: JSON.stringify(value), headers }]);
  }

  // Runs after the HTTP server and consumers have closed, so nothing publishes any more.
  async onApplicationShutdown(): Promise<void> {
    await this.batcher.flush();
    await this.producer.disconnect();
    await this.close();
  }
}
