import { randomBytes } from 'node:crypto';
import type { InboundMessage } from './batch';
import type { KafkaConnection } from './kafka-connection';

export interface TopicRangeOptions {
  topic: string;
  /** Messages whose Kafka timestamp is at or after this (ms since epoch); left out, from the start of the log. */
  sinceMs?: number;
  /** ... and before this; left out, up to the end offsets captured when the read starts. */
  untilMs?: number;
  /** Receives each fetched batch's messages within the range, in offset order per partition; the next batch waits for its promise. */
  onMessages: (messages: InboundMessage[], partition: number) => void | Promise<void>;
  /** Gives up (and throws) after this long. @default 120000 */
  timeoutMs?: number;
  /** Prefix of the throwaway consumer group's id. @default "switchyard-range" */
  groupPrefix?: string;
  /** Read only these partitions (e.g. the one a key is written to). @default every partition */
  partitions?: number[];
  /** Per partition, the offset to start at instead of `sinceMs`'s (not before the log start); no timestamp filter then applies. */
  from?: Map<number, number>;
  /** Refuse (ScanTooLarge, before reading) a range of more offsets than this. @default no bound */
  maxMessages?: number;
  /** Stop (ScanTooLarge) once the values read pass this many bytes. @default no bound */
  maxBytes?: number;
}

/** A bounded read would go past its `maxMessages` or `maxBytes`: what it would read, and the bound. */
export class ScanTooLarge extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScanTooLarge';
  }
}

export interface PartitionRange {
  partition: number;
  /** First offset read (inclusive). */
  start: number;
  /** Offset the read stops at (exclusive): the last stable offset when it began, or `untilMs`'s. */
  end: number;
}

export interface TopicRangeResult {
  ranges: PartitionRange[];
  /** Messages handed to `onMessages`. */
  delivered: number;
  ms: number;
}

/**
 * The offsets between which a bounded read goes, per partition: from the first offset at
 * or after `sinceMs` (else the log start) to the last stable offset now (else the first
 * offset at or after `untilMs`). kafkajs's ListOffsets is read-committed, so the end is the
 * last stable offset: nothing below it is still in an open transaction, and the read
 * never waits on one.
 */
export async function topicRanges(
  kafka: KafkaConnection,
  topic: string,
  sinceMs?: number,
  untilMs?: number,
  from?: Map<number, number>,
): Promise<PartitionRange[]> {
  const bounds = await kafka.topicOffsets(topic);
  const since = sinceMs === undefined ? undefined : await kafka.topicOffsetsAt(topic, sinceMs);
  const until = untilMs === undefined ? undefined : await kafka.topicOffsetsAt(topic, untilMs);
  return bounds
    .map(({ partition, low, high }) => {
      const start = Math.max(Number(low), from?.get(partition) ?? Number(since?.find((p) => p.partition === partition)?.offset ?? low));
      const end = Math.min(Number(high), Number(until?.find((p) => p.partition === partition)?.offset ?? high));
      return { partition, start, end };
    })
    .sort((a, b) => a.partition - b.partition);
}

/**
 * Reads every committed message of a topic between two instants once, then stops: a
 * bounded scan, not a subscription (`followTopic` from the range's start until its end,
 * with a throwaway group). The end offsets are captured before the first fetch, so
 * traffic arriving meanwhile does not make it longer.
 */
export async function readTopicRange(kafka: KafkaConnection, opts: TopicRangeOptions): Promise<TopicRangeResult> {
  const started = Date.now();
  const { topic, sinceMs, untilMs } = opts;
  const timeoutMs = opts.timeoutMs ?? 120000;
  const ranges = (await topicRanges(kafka, topic, sinceMs, untilMs, opts.from)).filter((r) => !opts.partitions || opts.partitions.includes(r.partition));
  const open = ranges.filter((r) => r.start < r.end);
  let delivered = 0;
  if (!open.length) return { ranges, delivered, ms: Date.now() - started };
  const offsets = open.reduce((sum, r) => sum + r.end - r.start, 0);
  if (opts.maxMessages !== undefined && offsets > opts.maxMessages)
    throw new ScanTooLarge(`${topic} holds ${offsets} records in the range; at most ${opts.maxMessages} are read`);
  let bytes = 0;
  let tooLarge!: (error: ScanTooLarge) => void;
  const stopped = new Promise<never>((_, reject) => (tooLarge = reject));
  // A batch already in flight may pass the bound after the read ended: nobody awaits it then.
  stopped.catch(() => undefined);

  const ends = new Map(open.map((r) => [r.partition, r.end]));
  const following = await kafka.followTopic({
    topic,
    groupId: `${opts.groupPrefix ?? 'switchyard-range'}-${randomBytes(6).toString('hex')}`,
    // From the log start a new group starts there by itself. Seeking would make followTopic
    // ignore a first batch that starts past the offset sought, which is every batch of a
    // compacted topic whose head was cleaned (the checkpoints): such a read never ended.
    from: sinceMs === undefined && !opts.from && !opts.partitions ? 'beginning' : new Map(open.map((r) => [r.partition, r.start])),
    until: ends,
    consumer: { maxWaitTimeInMs: 100, maxBytesPerPartition: 4 * 1024 * 1024, maxBytes: 16 * 1024 * 1024 },
    onBatch: async ({ partition, messages }) => {
      const end = ends.get(partition)!;
      if (opts.maxBytes !== undefined) {
        for (const m of messages) bytes += m.value?.length ?? 0;
        if (bytes > opts.maxBytes) return tooLarge(new ScanTooLarge(`${topic} holds more than ${opts.maxBytes} bytes in the range; at most that is read`));
      }
      const inRange = messages.filter((m) => {
        const at = Number(m.timestamp);
        // The timestamp index finds where to start and stop; producers' clocks need not be
        // monotonic, so each message is checked against the window too.
        return Number(m.offset) < end && (sinceMs === undefined || at >= sinceMs) && (untilMs === undefined || at < untilMs);
      });
      if (inRange.length) {
        delivered += inRange.length;
        await opts.onMessages(inRange, partition);
      }
    },
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      following.caughtUp,
      stopped,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`reading ${topic} took longer than ${timeoutMs} ms`)), timeoutMs))),
    ]);
    return { ranges, delivered, ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
    await following.stop();
  }
}
