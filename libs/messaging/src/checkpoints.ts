import { Counter } from 'prom-client';
import { checkpointProblem, CheckpointedStore, CoveredOffset, StateCheckpoint } from '@switchyard/contracts';
import type { KafkaConnection } from './kafka-connection';
import { parseBatch, skipRejected } from './parse-batch';
import { readTopicRange } from './topic-range';

export const checkpointMetrics = {
  written: new Counter({
    name: 'switchyard_checkpoints_written_total',
    help: 'Checkpoints of a store (statistics, report) written to the checkpoints topic',
    labelNames: ['store'] as const,
  }),
  restored: new Counter({
    name: 'switchyard_checkpoint_restores_total',
    help: 'Rebuilds after a Redis loss that started from a checkpoint (outcome restored) or found none and read the topics from their log start (outcome none)',
    labelNames: ['store', 'outcome'] as const,
  }),
};

/**
 * How long reading the checkpoints topic may take: a few records per store, so a read that
 * takes longer is stuck (a throwaway group that cannot join, seen right after a broker
 * restart) and is better given up and started again with a fresh group.
 */
const CHECKPOINT_READ_TIMEOUT_MS = 60000;

/**
 * A consumer group's committed offsets of `topics` (the next offset it reads; 0 for a
 * partition it never committed): what a checkpoint taken after this call covers.
 */
export async function coveredOffsets(kafka: KafkaConnection, groupId: string, topics: string[]): Promise<CoveredOffset[]> {
  const committed = await kafka.committedOffsets(groupId, topics);
  return committed.flatMap(({ topic, partitions }) =>
    partitions.map(({ partition, offset }) => ({ topic, partition, offset: BigInt(offset) < 0n ? '0' : offset })),
  );
}

/**
 * The latest checkpoint of `store` on the (compacted) checkpoints topic, or undefined:
 * the topic is read whole, which compaction keeps to a few records per store. A record
 * that is not a valid checkpoint is skipped, counted and logged, like every rebuild's; a
 * tombstone deletes the checkpoint before it.
 */
export async function readCheckpoint(
  kafka: KafkaConnection,
  topic: string,
  store: CheckpointedStore,
  options: { groupPrefix: string; logger: { warn: (fields: object, message: string) => void } },
): Promise<StateCheckpoint | undefined> {
  let latest: StateCheckpoint | undefined;
  await readTopicRange(kafka, {
    topic,
    groupPrefix: options.groupPrefix,
    timeoutMs: CHECKPOINT_READ_TIMEOUT_MS,
    onMessages: (messages) => {
      for (const message of messages) {
        if (message.key !== store) continue;
        // A tombstone (null value) deletes the checkpoint: the next rebuild reads the topics whole.
        if (message.value === null) {
          latest = undefined;
          continue;
        }
        const { accepted, rejected } = parseBatch(StateCheckpoint, [message], 'checkpoint', checkpointProblem);
        skipRejected(rejected, `${store}-checkpoint`, options.logger);
        if (accepted[0]?.value.store === store) latest = accepted[0].value;
      }
    },
  });
  return latest;
}
