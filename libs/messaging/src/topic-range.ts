import { randomBytes } from 'node:crypto';
import { Admin, Kafka, KafkaMessage } from 'kafkajs';

export interface TopicRangeOptions {
  topic: string;
  /** Messages whose Kafka timestamp is at or after this (ms since epoch); left out, from the start of the log. */
  sinceMs?: number;
  /** ... and before this; left out, up to the end offsets captured when the read starts. */
  untilMs?: number;
  /** Receives each fetched batch's messages within the range, in offset order per partition; the next batch waits for its promise. */
  onMessages: (messages: KafkaMessage[], partition: number) => void | Promise<void>;
  /** Gives up (and throws) after this long. @default 120000 */
  timeoutMs?: number;
  /** Prefix of the throwaway consumer group's id. @default "switchyard-range" */
  groupPrefix?: string;
  /** Read only these partitions (e.g. the one a key is written to). @default every partition */
  partitions?: number[];
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
export async function topicRanges(admin: Admin, topic: string, sinceMs?: number, untilMs?: number): Promise<PartitionRange[]> {
  const bounds = await admin.fetchTopicOffsets(topic);
  const since = sinceMs === undefined ? undefined : await admin.fetchTopicOffsetsByTimestamp(topic, sinceMs);
  const until = untilMs === undefined ? undefined : await admin.fetchTopicOffsetsByTimestamp(topic, untilMs);
  return bounds
    .map(({ partition, low, high }) => {
      const start = Math.max(Number(low), Number(since?.find((p) => p.partition === partition)?.offset ?? low));
      const end = Math.min(Number(high), Number(until?.find((p) => p.partition === partition)?.offset ?? high));
      return { partition, start, end };
    })
    .sort((a, b) => a.partition - b.partition);
}

/**
 * Reads every committed message of a topic between two instants once, with a
 * short-lived consumer, then stops: a bounded scan, not a subscription. The end offsets
 * are captured before the first fetch, so traffic arriving meanwhile does not make it
 * longer. kafkajs has no manual partition assignment, so the consumer joins a throwaway
 * group (it commits nothing, and the group is deleted at the end) and seeks each
 * partition to its start. (kafkajs's `admin.setOffsets` would avoid the seek, but it runs
 * a consumer of its own that waits out a whole fetch: 5 s per evaluation, measured.)
 *
 * Progress is tracked from kafkajs's END_BATCH_PROCESS event, which also fires for
 * batches left empty by filtering: a transactional topic ends each transaction with a
 * control record the consumer never delivers, so "the last message seen" could never
 * reach the end offset, but the batch's last offset does.
 */
export async function readTopicRange(kafka: Kafka, opts: TopicRangeOptions): Promise<TopicRangeResult> {
  const started = Date.now();
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `${opts.groupPrefix ?? 'switchyard-range'}-${randomBytes(6).toString('hex')}`;
  let consumer: ReturnType<Kafka['consumer']> | undefined;
  let delivered = 0;
  try {
    const ranges = (await topicRanges(admin, opts.topic, opts.sinceMs, opts.untilMs)).filter((r) => !opts.partitions || opts.partitions.includes(r.partition));
    const open = new Map(ranges.filter((r) => r.start < r.end).map((r) => [r.partition, { ...r, next: r.start }]));
    if (!open.size) return { ranges, delivered, ms: Date.now() - started };

    consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, maxBytesPerPartition: 4 * 1024 * 1024, maxBytes: 16 * 1024 * 1024 });
    let finish!: () => void;
    let fail!: (error: Error) => void;
    const done = new Promise<void>((resolve, reject) => ((finish = resolve), (fail = reject)));
    const timer = setTimeout(() => fail(new Error(`reading ${opts.topic} took longer than ${opts.timeoutMs ?? 120000} ms`)), opts.timeoutMs ?? 120000);
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      const range = open.get(payload.partition);
      if (!range || payload.lastOffset === null || payload.lastOffset === undefined) return;
      // Only a batch that continues from where the read is counts: one fetched before the
      // seek took effect (from the log end) says nothing about the range.
      if (payload.firstOffset !== null && payload.firstOffset !== undefined && Number(payload.firstOffset) > range.next) return;
      range.next = Math.max(range.next, Number(payload.lastOffset) + 1);
      if (range.next >= range.end) open.delete(payload.partition);
      if (!open.size) finish();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => fail(payload.error));

    await consumer.connect();
    await consumer.subscribe({ topic: opts.topic, fromBeginning: false });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const range = open.get(batch.partition);
        if (!range) return;
        const inRange = batch.messages.filter((m) => {
          const offset = Number(m.offset);
          const at = Number(m.timestamp);
          // The timestamp index finds where to start and stop; producers' clocks need not be
          // monotonic, so each message is checked against the window too.
          return (
            offset >= range.next &&
            offset < range.end &&
            (opts.sinceMs === undefined || at >= opts.sinceMs) &&
            (opts.untilMs === undefined || at < opts.untilMs)
          );
        });
        if (inRange.length) {
          delivered += inRange.length;
          await opts.onMessages(inRange, batch.partition);
        }
      },
    });
    for (const range of open.values()) consumer.seek({ topic: opts.topic, partition: range.partition, offset: String(range.start) });
    try {
      await done;
    } finally {
      clearTimeout(timer);
    }
    return { ranges, delivered, ms: Date.now() - started };
  } finally {
    await consumer?.disconnect().catch(() => undefined);
    if (consumer) await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}
