import 'reflect-metadata';
import { Type } from 'class-transformer';
import { IsArray, IsIn, IsInt, IsISO8601, IsOptional, Matches, Max, Min, ValidateNested } from 'class-validator';
import { NAME_PATTERN } from './deployment';

/** The stores whose state is checkpointed, each under its own key on the checkpoints topic. */
export const CHECKPOINTED_STORES = ['statistics', 'report'] as const;
export type CheckpointedStore = (typeof CHECKPOINTED_STORES)[number];

/** At most this many chunks to a checkpoint: at the chunk size the services write, several GiB, far past what a restore could hold. */
export const MAX_CHUNKS = 10000;

/** A consumer group's committed offset (the next offset it reads) of one topic-partition. */
export class CoveredOffset {
  @Matches(/^[A-Za-z0-9._-]{1,249}$/)
  topic: string;

  @IsInt()
  @Min(0)
  partition: number;

  @Matches(/^(0|[1-9]\d{0,17})$/)
  offset: string;
}

/**
 * One pass of a store's checkpoint, as a restore uses it: every deployment's Redis hashes
 * as they were, each read atomically, and `covers`, the group's committed offsets read
 * *before* the hashes. The group commits an offset only after Redis took in what lies
 * below it, so every hash holds at least everything below `covers`: a restore writes the
 * hashes back and reads the topics again from there, the positions inside the hashes
 * skipping what they already hold (the way Kafka Streams restores a store from its
 * changelog and the offsets it checkpointed). On the topic it is chunks and a manifest
 * (CheckpointChunk, CheckpointManifest), so that no record passes the broker's size limit.
 */
export interface StateCheckpoint {
  store: CheckpointedStore;
  takenAt: string;
  covers: CoveredOffset[];
  /** Deployment → hash kind (`stats`, `positions`, `report` …) → its time to live in ms (0: none) and fields. */
  deployments: Record<string, Record<string, CheckpointedHash>>;
}

export interface CheckpointedHash {
  ttlMs: number;
  fields: Record<string, string>;
}

/** The key of a store's manifest on the checkpoints topic (a tombstone on it forgets the store's checkpoints). */
export const manifestKey = (store: CheckpointedStore): string => store;

/**
 * The key of one chunk of a checkpoint: unique to the checkpoint (`id`), so that writing
 * a new one never overwrites a chunk of the one a manifest names, and two writers never
 * mix their chunks.
 */
export const chunkKey = (store: CheckpointedStore, id: string, index: number): string => `${store}/${id}/${index}`;

/** One checkpoint's chunks and what they cover: what a restore needs to find and trust them. */
export class CheckpointSet {
  /** Unique to the checkpoint, in its chunks' keys. */
  @Matches(/^[0-9a-f]{16}$/)
  id: string;

  @IsISO8601()
  takenAt: string;

  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => CoveredOffset)
  covers: CoveredOffset[];

  /** How many chunks, keyed `chunkKey(store, id, 0 … chunks - 1)`. */
  @IsInt()
  @Min(1)
  @Max(MAX_CHUNKS)
  chunks: number;
}

/**
 * The record keyed `manifestKey(store)`, written after every chunk it names: a checkpoint
 * is trusted only once its manifest is on the topic and every chunk it names is there
 * with its id. `previous` names the checkpoint it replaced (whose chunks its writer keeps
 * until the next one), for a restore that finds this one incomplete, after compaction
 * removed the previous manifest.
 */
export class CheckpointManifest extends CheckpointSet {
  @IsIn(CHECKPOINTED_STORES)
  store: CheckpointedStore;

  @IsOptional()
  @ValidateNested()
  @Type(() => CheckpointSet)
  previous?: CheckpointSet;
}

/** A part of a hash in a chunk: a hash too large for one chunk is spread over several, its fields split between them. */
export interface ChunkedHash extends CheckpointedHash {
  deployment: string;
  kind: string;
}

/** The record keyed `chunkKey(store, id, index)`: some of a checkpoint's hashes, or parts of them. */
export class CheckpointChunk {
  @IsIn(CHECKPOINTED_STORES)
  store: CheckpointedStore;

  @Matches(/^[0-9a-f]{16}$/)
  id: string;

  @IsInt()
  @Min(0)
  @Max(MAX_CHUNKS - 1)
  index: number;

  @IsArray()
  hashes: ChunkedHash[];
}

/** Why a chunk's `hashes` are not `{ deployment, kind, ttlMs, fields }` a restore could write back, or undefined. */
export function chunkProblem({ hashes }: CheckpointChunk): string | undefined {
  const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
  for (const [i, hash] of hashes.entries()) {
    if (!isObject(hash)) return `hashes[${i}] must be an object`;
    if (typeof hash.deployment !== 'string' || !NAME_PATTERN.test(hash.deployment))
      return `hashes[${i}]: ${JSON.stringify(hash.deployment)} is not a deployment name`;
    if (typeof hash.kind !== 'string' || !/^[a-z][a-z0-9-]{0,31}$/.test(hash.kind)) return `hashes[${i}]: ${JSON.stringify(hash.kind)} is not a hash kind`;
    if (typeof hash.ttlMs !== 'number' || !Number.isInteger(hash.ttlMs) || hash.ttlMs < 0) return `hashes[${i}].ttlMs must be a whole number of ms`;
    if (!isObject(hash.fields) || Object.values(hash.fields).some((value) => typeof value !== 'string')) return `hashes[${i}].fields must be strings`;
  }
  return undefined;
}
