import type { KafkaRecord } from '@switchyard/contracts';
import type { KafkaConnection } from './kafka-connection';
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
export async function readRange(kafka: KafkaConnection, topic: string, options: ReadRangeOptions = {}): Promise<RangeMessage[]> {
  const { key, filter, limit = 10000, timeoutMs = 10000, groupPrefix = 'switchyard-read' } = options;
  const partitions = key === undefined ? undefined : [await kafka.partitionOf(topic, key)];
  const kept: RangeMessage[] = [];
  await readTopicRange(kafka, {
    topic,
    partitions,
    timeoutMs,
    groupPrefix,
    onMessages: (messages) => {
      for (const message of messages) {
        const read: RangeMessage = { ...message, value: message.value?.toString() ?? null };
        if (!filter || filter(read)) kept.push(read);
      }
    },
  });
  return kept.length > limit ? kept.sort((a, b) => Number(a.timestamp) - Number(b.timestamp)).slice(-limit) : kept;
}
