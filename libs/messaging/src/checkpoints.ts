import { Counter } from 'prom-client';
import { randomBytes } from 'node:crypto';
import {
  CheckpointChunk,
  CheckpointedStore,
  CheckpointManifest,
  CheckpointSet,
  chunkKey,
  chunkProblem,
  CoveredOffset,
  manifestKey,
  StateCheckpoint,
} from '@switchyard/contracts';
import { CheckpointAssembler, CheckpointFound, splitCheckpoint } from './checkpoint-chunks';
import type { KafkaConnection } from './kafka-connection';
import type { KafkaClient } from './kafka.client';
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
    help: 'Rebuilds after a Redis loss: from the newest checkpoint (outcome restored), from the one before it because the newest was incomplete (previous), from the log start because no checkpoint was complete (incomplete) or none was written (none)',
    labelNames: ['store', 'outcome'] as const,
  }),
};

/**
 * How long reading the checkpoints topic may take: a few checkpoints per store, so a read that
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
 * How large a chunk of a checkpoint may be (its JSON): half the broker's default
 * `max.message.bytes` (1 MiB, for a record batch), leaving room for the key and the batch's
 * overhead. Each chunk is sent as a request of its own, so no batch holds two.
 */
export const CHECKPOINT_CHUNK_BYTES = 512 * 1024;

interface ReadOptions {
  groupPrefix: string;
  logger: { warn: (fields: object, message: string) => void };
}

/**
 * One store's records of the (compacted) checkpoints topic, read whole (compaction keeps
 * it to the last checkpoints of each store), fed to an assembler. A record that is not a
 * valid manifest or chunk is skipped, counted and logged, like every rebuild's.
 */
async function readStore(kafka: KafkaConnection, topic: string, store: CheckpointedStore, options: ReadOptions): Promise<CheckpointAssembler> {
  const assembler = new CheckpointAssembler(store);
  const reader = `${store}-checkpoint`;
  await readTopicRange(kafka, {
    topic,
    groupPrefix: options.groupPrefix,
    timeoutMs: CHECKPOINT_READ_TIMEOUT_MS,
    onMessages: (messages) => {
      for (const message of messages) {
        const isManifest = message.key === manifestKey(store);
        if (!isManifest && !message.key?.startsWith(`${store}/`)) continue;
        // A tombstone on the manifest forgets the store's checkpoints (the next rebuild reads the topics whole); on a chunk, the chunk.
        if (message.value === null) {
          if (isManifest) assembler.forgetManifests();
          else assembler.dropChunk(message.key!);
          continue;
        }
        if (isManifest) {
          const { accepted, rejected } = parseBatch(CheckpointManifest, [message], 'checkpoint manifest', (m) =>
            m.store === store ? undefined : `a manifest of ${m.store} under the key ${store}`,
          );
          skipRejected(rejected, reader, options.logger);
          if (accepted[0]) assembler.addManifest(accepted[0].value);
        } else {
          const { accepted, rejected } = parseBatch(CheckpointChunk, [message], 'checkpoint chunk', chunkProblem);
          skipRejected(rejected, reader, options.logger);
          if (accepted[0]) assembler.addChunk(message.key!, accepted[0].value);
        }
      }
    },
  });
  return assembler;
}

/**
 * The newest complete checkpoint of `store` on the checkpoints topic (CheckpointAssembler),
 * or why there is none; a checkpoint passed over for being incomplete is logged.
 */
export async function readCheckpoint(kafka: KafkaConnection, topic: string, store: CheckpointedStore, options: ReadOptions): Promise<CheckpointFound> {
  const found = (await readStore(kafka, topic, store, options)).found();
  if (found.outcome === 'previous' || found.outcome === 'incomplete')
    options.logger.warn(
      { store, problem: found.problem, outcome: found.outcome },
      found.outcome === 'previous' ? 'the newest checkpoint is incomplete; restoring the one before it' : 'no complete checkpoint; reading the topics whole',
    );
  return found;
}

/**
 * Writes a store's checkpoints as chunks (`splitCheckpoint`, one record each, keys unique
 * to the checkpoint) and then their manifest, so a reader trusts only a complete set; a
 * writer that dies half-way leaves the manifest naming the previous set. The manifest
 * names the checkpoint it replaced (`previous`), whose chunks stay until the next one is
 * written; every other set of chunks this writer knows of is then tombstoned. What it
 * knows: the sets it wrote, and those on the topic when it first wrote (read once), so
 * what a writer that died left behind goes at the next writer's start.
 */
export class CheckpointWriter {
  /** The checkpoint a next one replaces, and the chunk keys of every set known to be on the topic, by id. */
  private known?: { latest?: CheckpointSet; chunks: Map<string, string[]> };

  constructor(
    private readonly kafka: KafkaClient,
    private readonly store: CheckpointedStore,
    private readonly options: ReadOptions & { chunkBytes?: number },
  ) {}

  async write(checkpoint: StateCheckpoint): Promise<CheckpointManifest> {
    const topic = this.kafka.topics.checkpoints;
    const known = (this.known ??= await this.onTopic(topic));
    const id = randomBytes(8).toString('hex');
    const chunks = splitCheckpoint(checkpoint, id, this.options.chunkBytes ?? CHECKPOINT_CHUNK_BYTES);
    const keys = chunks.map((chunk) => chunkKey(this.store, id, chunk.index));
    // Known before it is sent: if the write fails half-way, the next one tombstones what was sent.
    known.chunks.set(id, keys);
    for (const [i, chunk] of chunks.entries()) await this.kafka.appendJson(topic, keys[i], chunk);
    const previous = known.latest && { id: known.latest.id, takenAt: known.latest.takenAt, covers: known.latest.covers, chunks: known.latest.chunks };
    const manifest: CheckpointManifest = { store: this.store, id, takenAt: checkpoint.takenAt, covers: checkpoint.covers, chunks: chunks.length, previous };
    await this.kafka.appendJson(topic, manifestKey(this.store), manifest);
    known.latest = manifest;
    const stale = [...known.chunks].filter(([setId]) => setId !== id && setId !== previous?.id);
    if (stale.length)
      await this.kafka.appendTombstones(
        topic,
        stale.flatMap(([, setKeys]) => setKeys),
      );
    for (const [setId] of stale) known.chunks.delete(setId);
    return manifest;
  }

  private async onTopic(topic: string): Promise<NonNullable<CheckpointWriter['known']>> {
    const assembler = await readStore(this.kafka, topic, this.store, this.options);
    const found = assembler.found();
    return { latest: 'set' in found ? found.set : undefined, chunks: assembler.chunkKeysById() };
  }
}
