import type { Consumer, ConsumerConfig } from 'kafkajs';
import { InboundMessage, inboundMessage } from './batch';

export interface FollowedBatch {
  topic: string;
  partition: number;
  /** Messages not handed over before, in offset order. */
  messages: InboundMessage[];
  /** Long handlers call this so the group does not think the member died. */
  heartbeat: () => Promise<void>;
}

export interface FollowTopicOptions {
  topic: string;
  /** A group of the reader's own: nothing is committed, and the group is deleted when the follow stops. */
  groupId: string;
  /**
   * Where each partition starts: its log start, its end, or the given offset (partitions
   * left out of the map are not read).
   */
  from: 'beginning' | 'end' | Map<number, number>;
  /** The offset of each partition (exclusive) at which `caughtUp` counts it read. @default its end when the follow starts */
  until?: Map<number, number>;
  onBatch: (batch: FollowedBatch) => void | Promise<void>;
  /** kafkajs consumer settings (fetch sizes, how long an empty fetch waits). */
  consumer?: Omit<ConsumerConfig, 'groupId'>;
}

export interface Following {
  /**
   * Resolves once every partition read has reached `until`; rejects when the consumer
   * crashed and the follow cannot go on (kafkajs restarts a crashed consumer, but a
   * restarted one has lost the seeks to given offsets).
   */
  caughtUp: Promise<void>;
  /** Leaves the group (kafkajs finishes the batch in hand) and deletes it. */
  stop: () => Promise<void>;
}

/** What a follow needs of the connection. */
export interface FollowDeps {
  consumer: (config: ConsumerConfig) => Consumer;
  topicOffsets: (topic: string) => Promise<{ partition: number; low: string; high: string }[]>;
  deleteGroup: (groupId: string) => Promise<void>;
}

/**
 * Reads a topic from given offsets (or its beginning or end) on and on, with a consumer
 * group of its own, handing each batch to `onBatch` once; `caughtUp` tells when it has
 * read up to where the topic ended when the follow started. kafkajs has no manual
 * partition assignment, so offsets are reached by seeking every partition after the group
 * is joined. (kafkajs's `admin.setOffsets` would avoid the seek, but it runs a consumer of
 * its own that waits out a whole fetch: 5 s per bounded read, measured.)
 *
 * Progress is tracked from kafkajs's END_BATCH_PROCESS event, which also fires for
 * batches left empty by filtering: a transactional topic ends each transaction with a
 * control record the consumer never delivers, so "the last message seen" could never
 * reach the end offset, but the batch's last offset does.
 */
export async function followTopic(deps: FollowDeps, options: FollowTopicOptions): Promise<Following> {
  const { topic, from } = options;
  const seeking = from instanceof Map;
  const positions = new Map<number, { next: number; end: number }>();
  for (const { partition, low, high } of await deps.topicOffsets(topic)) {
    if (seeking && !from.has(partition)) continue;
    const next = seeking ? from.get(partition)! : Number(from === 'beginning' ? low : high);
    positions.set(partition, { next, end: options.until?.get(partition) ?? Number(high) });
  }
  const behind = new Set([...positions].filter(([, p]) => p.next < p.end).map(([partition]) => partition));
  let reached!: () => void;
  let fail!: (error: Error) => void;
  const caughtUp = new Promise<void>((resolve, reject) => ((reached = resolve), (fail = reject)));
  if (!behind.size) reached();
  // A follow nobody waits on to catch up must not fail the process when it crashes.
  caughtUp.catch(() => undefined);

  const consumer = deps.consumer({ ...options.consumer, groupId: options.groupId });
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    const position = positions.get(payload.partition);
    if (!position || payload.lastOffset === null || payload.lastOffset === undefined) return;
    // Only a batch that continues from where the read is counts: one fetched before the
    // seek took effect (from the log end) is neither delivered nor progress.
    if (seeking && payload.firstOffset !== null && payload.firstOffset !== undefined && Number(payload.firstOffset) > position.next) return;
    position.next = Math.max(position.next, Number(payload.lastOffset) + 1);
    if (position.next >= position.end && behind.delete(payload.partition) && !behind.size) reached();
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (seeking || !payload.restart) fail(payload.error);
  });

  const stop = async () => {
    await consumer.disconnect().catch(() => undefined);
    await deps.deleteGroup(options.groupId).catch(() => undefined);
  };
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: from === 'beginning' });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat }) => {
        const position = positions.get(batch.partition);
        if (seeking && (!position || Number(batch.firstOffset() ?? position.next) > position.next)) return;
        const messages = batch.messages.filter((m) => !position || Number(m.offset) >= position.next);
        if (messages.length)
          await options.onBatch({ topic, partition: batch.partition, messages: messages.map((m) => inboundMessage(topic, batch.partition, m)), heartbeat });
      },
    });
    if (seeking) for (const [partition, { next }] of positions) consumer.seek({ topic, partition, offset: String(next) });
  } catch (error) {
    await stop();
    throw error;
  }
  return { caughtUp, stop };
}
