import { Admin, Kafka, KafkaConfig, TopicMessages } from 'kafkajs';
import { retry } from '@switchyard/runtime';
import { isRetriable } from './failures';
import { followTopic, FollowTopicOptions, Following } from './follow-topic';
import { javaCompatiblePartitioner, partitionForKey } from './partitioner';

/** Where a partition's log starts (`low`) and ends (`high`, the next offset to be written). */
export interface PartitionOffsets {
  partition: number;
  low: string;
  high: string;
}

/** A group's committed offsets (the next offset to read; -1 for none) per topic. */
export interface CommittedOffsets {
  topic: string;
  partitions: { partition: number; offset: string }[];
}

/** The offset lookups consumers make; a KafkaConnection is one. */
export interface OffsetLookups {
  topicOffsets(topic: string): Promise<PartitionOffsets[]>;
  committedOffsets(groupId: string, topics: string[]): Promise<CommittedOffsets[]>;
}

/**
 * A Kafka connection with its one admin client (connected on first use), and everything
 * a reader asks of Kafka as typed methods: offsets, partition counts, following a topic.
 * The kafkajs client stays inside the messaging library. `KafkaClient` is the one of a
 * service; a tool with no Nest app (the CLI) makes its own.
 */
export class KafkaConnection implements OffsetLookups {
  protected readonly kafka: Kafka;
  private adminClient?: Promise<Admin>;
  private closed = false;
  private readonly partitionCounts = new Map<string, Promise<number>>();

  constructor(config: KafkaConfig) {
    this.kafka = new Kafka(config);
  }

  /** The connection's one admin client, connected on first use (again after a failed connect). */
  protected admin(): Promise<Admin> {
    if (this.closed) return Promise.reject(new Error('the Kafka connection is closed'));
    if (!this.adminClient) {
      const admin = this.kafka.admin();
      const connected = admin.connect().then(() => admin);
      connected.catch(() => (this.adminClient = undefined));
      this.adminClient = connected;
    }
    return this.adminClient;
  }

  async brokerCount(): Promise<number> {
    return (await (await this.admin()).describeCluster()).brokers.length;
  }

  async topicOffsets(topic: string): Promise<PartitionOffsets[]> {
    return (await (await this.admin()).fetchTopicOffsets(topic)).map(({ partition, low, high }) => ({ partition, low, high }));
  }

  /** Per partition, the first offset whose timestamp is at or after `timestampMs` (the end when none is). */
  async topicOffsetsAt(topic: string, timestampMs: number): Promise<{ partition: number; offset: string }[]> {
    return (await this.admin()).fetchTopicOffsetsByTimestamp(topic, timestampMs);
  }

  async committedOffsets(groupId: string, topics: string[]): Promise<CommittedOffsets[]> {
    const committed = await (await this.admin()).fetchOffsets({ groupId, topics });
    return committed.map(({ topic, partitions }) => ({ topic, partitions: partitions.map(({ partition, offset }) => ({ partition, offset })) }));
  }

  /** A topic's partition count, looked up once. */
  partitionCount(topic: string): Promise<number> {
    let count = this.partitionCounts.get(topic);
    if (!count) {
      count = this.admin()
        .then((admin) => admin.fetchTopicMetadata({ topics: [topic] }))
        .then(({ topics: [t] }) => t.partitions.length);
      count.catch(() => this.partitionCounts.delete(topic));
      this.partitionCounts.set(topic, count);
    }
    return count;
  }

  /** The partition every producer of ours writes `key` to. */
  async partitionOf(topic: string, key: string): Promise<number> {
    return partitionForKey(key, await this.partitionCount(topic));
  }

  async deleteGroup(groupId: string): Promise<void> {
    await (await this.admin()).deleteGroups([groupId]);
  }

  /** See `followTopic`. A topic created a moment ago may not have its leaders known yet: its end is asked again. */
  followTopic(options: FollowTopicOptions): Promise<Following> {
    return followTopic(
      {
        consumer: (config) => this.kafka.consumer(config),
        topicOffsets: (topic) => retry(() => this.topicOffsets(topic), { attempts: 30, baseMs: 100, maxMs: 1000, retryIf: isRetriable }),
        deleteGroup: (groupId) => this.deleteGroup(groupId),
      },
      options,
    );
  }

  /**
   * Sends once with an idempotent producer of its own (acks all, the services'
   * partitioner, so a key lands on the partition it always maps to), for a tool that
   * publishes a few records and exits.
   */
  async sendOnce(topicMessages: TopicMessages[]): Promise<void> {
    const producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: javaCompatiblePartitioner,
    });
    await producer.connect();
    try {
      await producer.sendBatch({ acks: -1, topicMessages });
    } finally {
      await producer.disconnect();
    }
  }

  /** Disconnects the admin client; the connection answers nothing after. */
  async close(): Promise<void> {
    this.closed = true;
    const admin = await this.adminClient?.catch(() => undefined);
    await admin?.disconnect();
  }
}
