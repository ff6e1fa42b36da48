import { Kafka } from 'kafkajs';
import type { KafkaRecord } from '@switchyard/contracts';
import { murmur2 } from './partitioner';
import { readTopicRange } from './topic-range';

export interface RangeMessage extends KafkaRecord {
  timestamp: string;
}

export interface ReadRangeOptions {
  /**
   * Read only the partition this key is written to (murmur2, as every Switchyard producer
   * partitions): a topic keyed by deployment costs one partition's read, not all.
   */
  key?: string;
  /** Keep only messages for which this is true (applied before `limit`). */
  filter?: (message: RangeMessage) => boolean;
  /** Keep at most this many: the latest ones. @default 10000 */
  limit?: number;
  /** Give up (and throw) after this long. @default 10000 */
  timeoutMs?: number;
  /** Prefix of the throwaway consumer group. @default "switchyard-read" */
  groupPrefix?: string;
}

/**
 * Every committed message of `topic` (or of the partition `key` is written to) up to its
 * end as it is when the call starts, as plain records: `readTopicRange` collected into a
 * list, for readers that want the messages rather than a stream of batches.
 */
export async function readRange(kafka: Kafka, topic: string, options: ReadRangeOptions = {}): Promise<RangeMessage[]> {
  const { key, filter, limit = 10000, timeoutMs = 10000, groupPrefix = 'switchyard-read' } = options;
  let partitions: number[] | undefined;
  if (key !== undefined) {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const count = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions.length;
      partitions = [(murmur2(key) & 0x7fffffff) % count];
    } finally {
      await admin.disconnect();
    }
  }
  const kept: RangeMessage[] = [];
  await readTopicRange(kafka, {
    topic,
    partitions,
    timeoutMs,
    groupPrefix,
    onMessages: (messages, partition) => {
      for (const message of messages) {
        const read: RangeMessage = {
          topic,
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? null,
          value: message.value?.toString() ?? null,
          headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
          timestamp: message.timestamp,
        };
        if (!filter || filter(read)) kept.push(read);
      }
    },
  });
  return kept.length > limit ? kept.sort((a, b) => Number(a.timestamp) - Number(b.timestamp)).slice(-limit) : kept;
}
