import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Admin, Kafka, logLevel, Producer } from 'kafkajs';
import { TopicKey, TopicMap, topicNames, TOPICS } from '@switchyard/contracts';
import { BaseEnv, HealthRegistry, SERVICE_NAME } from '@switchyard/runtime';
import { BatchingProducer, OutboundMessage } from './batching-producer';
import { KafkaConsumerServer } from './consumer.server';
import { kafkaLogCreator } from './kafka-logger';
import { javaCompatiblePartitioner } from './partitioner';

/**
 * The one Kafka connection of a process: topic setup at start, a batching producer
 * for every publisher, and a readiness check. Consumers are built from `kafka`.
 */
@Injectable()
export class KafkaClient implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(KafkaClient.name);
  readonly kafka: Kafka;
  readonly topics: TopicMap;
  private readonly producer: Producer;
  private readonly admin: Admin;
  private readonly batcher: BatchingProducer;
  private knownTopics = new Set<string>();
  private topicsListedAt = 0;
  private listing?: Promise<void>;

  constructor(
    private readonly env: BaseEnv,
    private readonly health: HealthRegistry,
    @Inject(SERVICE_NAME) readonly clientId: string,
  ) {
    this.kafka = new Kafka({
      // Unique per replica (broker logs, quotas and metrics tell them apart): service name plus instance, or host, pid and a random part.
      clientId: `${clientId}-${env.INSTANCE_ID ?? `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`}`,
      brokers: env.KAFKA_BROKERS.split(','),
      logLevel: logLevel.WARN,
      logCreator: kafkaLogCreator,
      retry: { initialRetryTime: 100, retries: 8 },
    });
    this.topics = topicNames(env.TOPIC_PREFIX);
    // murmur2 like the Java client, so a requestId lands on the same partition number
    // whichever client produced it (predictions from us, feedback from anyone).
    this.producer = this.kafka.producer({ allowAutoTopicCreation: false, createPartitioner: javaCompatiblePartitioner });
    this.admin = this.kafka.admin();
    this.batcher = new BatchingProducer(this.producer, { lingerMs: env.PRODUCER_LINGER_MS, maxInFlight: env.PRODUCER_MAX_IN_FLIGHT });
  }

  async onModuleInit(): Promise<void> {
    await this.admin.connect();
    await this.ensureTopics();
    await this.producer.connect();
    this.health.register('kafka', async () => {
      await this.admin.describeCluster();
    });
  }

  /** Creates every Switchyard topic that is missing; safe to run from many processes at once. */
  async ensureTopics(): Promise<void> {
    const existing = new Set(await this.admin.listTopics());
    const missing = Object.values(this.topics).filter((topic) => !existing.has(topic));
    if (!missing.length) return;
    await this.admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((topic) => ({
        topic,
        numPartitions: this.env.TOPIC_PARTITIONS,
        replicationFactor: this.env.TOPIC_REPLICATION,
      })),
    });
    this.logger.log({ topics: missing }, 'created topics');
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
      this.listing = this.admin
        .listTopics()
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
      kafka: this.kafka,
      groupId,
      topics: Object.fromEntries(keys.map((key) => [TOPICS[key], this.topics[key]])),
      dlqTopic: this.topics.dlq,
      publish: (topic, messages) => this.publish(topic, messages),
      sessionTimeoutMs: this.env.KAFKA_SESSION_TIMEOUT_MS,
    });
  }

  /** Resolves when the broker has acknowledged every message; batched with concurrent sends. */
  publish(topic: string, messages: OutboundMessage[]): Promise<void> {
    return this.batcher.send(topic, messages);
  }

  /** JSON-encodes `value`; keyed so related events share a partition. */
  publishJson(topic: string, key: string, value: unknown, headers?: Record<string, string>): Promise<void> {
    return this.publish(topic, [{ key, value: JSON.stringify(value), headers }]);
  }

  // Runs after the HTTP server and consumers have closed, so nothing publishes any more.
  async onApplicationShutdown(): Promise<void> {
    await this.batcher.flush();
    await this.producer.disconnect();
    await this.admin.disconnect();
  }
}
