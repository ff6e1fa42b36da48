import { randomBytes } from 'node:crypto';
import { Kafka } from 'kafkajs';
import { murmur2 } from './partitioner';

export interface RangeMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
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
  /** Give up waiting for the rest after this long and answer what was read. @default 10000 */
  timeoutMs?: number;
  /**
   * Answer once nothing came for this long after the last batch: a partition whose last
   * record is a transaction marker never shows its end to a read-committed consumer.
   * @default 1000
   */
  idleMs?: number;
  /** Prefix of the throwaway consumer group. @default "switchyard-read" */
  groupPrefix?: string;
}

/**
 * Reads `topic` from the beginning up to its end as it is when the call starts (a bounded
 * read, not a tail): committed messages only, with a throwaway consumer group that
 * commits nothing, so the broker forgets it once it leaves. kafkajs has no
 * partition-assign API, hence the group. Messages are answered in offset order per
 * partition, partitions one after the other.
 */
export async function readRange(kafka: Kafka, topic: string, options: ReadRangeOptions = {}): Promise<RangeMessage[]> {
  const { key, filter, limit = 10000, timeoutMs = 10000, idleMs = 1000, groupPrefix = 'switchyard-read' } = options;
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    const only = key === undefined ? undefined : (murmur2(key) & 0x7fffffff) % offsets.length;
    ends = new Map(offsets.filter((p) => (only === undefined || p.partition === only) && BigInt(p.high) > BigInt(p.low)).map((p) => [p.partition, BigInt(p.high)]));
  } finally {
    await admin.disconnect();
  }
  if (!ends.size) return [];

  const byPartition = new Map<number, RangeMessage[]>();
  const pending = new Set(ends.keys());
  const consumer = kafka.consumer({ groupId: `${groupPrefix}-${randomBytes(6).toString('hex')}`, readUncommitted: false, maxWaitTimeInMs: 200 });
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const timer = setTimeout(() => finish(), timeoutMs);
  let idle: NodeJS.Timeout | undefined;
  const stillReading = () => {
    clearTimeout(idle);
    idle = setTimeout(() => finish(), idleMs);
  };
  consumer.on(consumer.events.GROUP_JOIN, stillReading);
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, pause }) => {
        stillReading();
        const end = ends.get(batch.partition);
        // A partition with nothing to read (or not the key's): stop fetching it.
        if (end === undefined) return void pause();
        const kept = byPartition.get(batch.partition) ?? [];
        for (const message of batch.messages) {
          if (BigInt(message.offset) >= end) break;
          const read: RangeMessage = {
            topic,
            partition: batch.partition,
            offset: message.offset,
            key: message.key?.toString() ?? null,
            value: message.value?.toString() ?? null,
            headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
            timestamp: message.timestamp,
          };
          if (!filter || filter(read)) kept.push(read);
          if (kept.length > limit) kept.shift();
        }
        byPartition.set(batch.partition, kept);
        // lastOffset() counts transaction markers too, so a partition ending in one still ends.
        if (BigInt(batch.lastOffset()) >= end - 1n) {
          pending.delete(batch.partition);
          if (!pending.size) finish();
        }
      },
    });
    await finished;
  } finally {
    clearTimeout(timer);
    clearTimeout(idle);
    await consumer.disconnect().catch(() => undefined);
  }
  const all = [...byPartition.values()].flat();
  return all.length > limit ? all.sort((a, b) => Number(a.timestamp) - Number(b.timestamp)).slice(-limit) : all;
}
