import 'reflect-metadata';
import { Type } from 'class-transformer';
import { IsArray, IsIn, IsInt, IsISO8601, IsObject, Matches, Min, ValidateNested } from 'class-validator';
import { NAME_PATTERN } from './deployment';

/** The stores whose state is checkpointed, each under its own key on the checkpoints topic. */
export const CHECKPOINTED_STORES = ['statistics', 'report'] as const;
export type CheckpointedStore = (typeof CHECKPOINTED_STORES)[number];

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
 * One pass of a store's checkpoint (the value of a record keyed by `store` on the compacted
 * checkpoints topic): every deployment's Redis hashes as they were, each read atomically,
 * and `covers`, the group's committed offsets read *before* the hashes. The group commits
 * an offset only after Redis took in what lies below it, so every hash holds at least
 * everything below `covers`: a restore writes the hashes back and reads the topics again
 * from there, the positions inside the hashes skipping what they already hold (the way
 * Kafka Streams restores a store from its changelog and the offsets it checkpointed).
 */
export class StateCheckpoint {
  @IsIn(CHECKPOINTED_STORES)
  store: CheckpointedStore;

  @IsISO8601()
  takenAt: string;

  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => CoveredOffset)
  covers: CoveredOffset[];

  /** Deployment → hash kind (`stats`, `positions`, `report` …) → its time to live in ms (0: none) and fields. */
  @IsObject()
  deployments: Record<string, Record<string, CheckpointedHash>>;
}

export interface CheckpointedHash {
  ttlMs: number;
  fields: Record<string, string>;
}

/** Why a checkpoint's `deployments` is not deployment names → hash kinds → `{ ttlMs, fields }` of strings, or undefined. */
export function checkpointProblem({ deployments }: StateCheckpoint): string | undefined {
  const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
  for (const [deployment, hashes] of Object.entries(deployments)) {
    if (!NAME_PATTERN.test(deployment)) return `deployment ${JSON.stringify(deployment)} is not a deployment name`;
    if (!isObject(hashes)) return `deployments.${deployment} must be an object`;
    for (const [kind, hash] of Object.entries(hashes)) {
      if (!/^[a-z][a-z0-9-]{0,31}$/.test(kind)) return `deployments.${deployment}: ${JSON.stringify(kind)} is not a hash kind`;
      if (!isObject(hash) || typeof hash.ttlMs !== 'number' || !Number.isInteger(hash.ttlMs) || hash.ttlMs < 0 || !isObject(hash.fields))
        return `deployments.${deployment}.${kind} must be { ttlMs, fields }`;
      if (Object.values(hash.fields).some((value) => typeof value !== 'string')) return `deployments.${deployment}.${kind}.fields must be strings`;
    }
  }
  return undefined;
}
