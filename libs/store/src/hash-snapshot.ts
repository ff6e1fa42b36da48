import type { CheckpointedHash } from '@switchyard/contracts';
import { RedisClient } from './redis.client';

/**
 * A deployment's hashes (`deploymentKey(deployment, kind)` per kind, one Cluster slot) read
 * at one instant, for a checkpoint; a missing hash is left out.
 */
export async function snapshotHashes(client: RedisClient, deployment: string, kinds: readonly string[]): Promise<Record<string, CheckpointedHash>> {
  const keys = kinds.map((kind) => client.deploymentKey(deployment, kind));
  const replies = await client.redis.snapshotHashes(keys.length, ...keys);
  const hashes: Record<string, CheckpointedHash> = {};
  replies.forEach(([ttlMs, flat], i) => {
    if (ttlMs === -2 || !flat.length) return;
    const fields: Record<string, string> = {};
    for (let j = 0; j < flat.length; j += 2) fields[flat[j]] = flat[j + 1];
    hashes[kinds[i]] = { ttlMs: Number(ttlMs), fields };
  });
  return hashes;
}

/**
 * Writes a deployment's hashes of a checkpoint back (every kind of `kinds`: one missing
 * from the checkpoint is emptied), all in one script, only when the `guard` kind is
 * missing from Redis; answers whether it did.
 */
export async function restoreHashes(
  client: RedisClient,
  deployment: string,
  kinds: readonly string[],
  guard: string,
  hashes: Record<string, CheckpointedHash>,
): Promise<boolean> {
  const keys = [guard, ...kinds].map((kind) => client.deploymentKey(deployment, kind));
  const args = kinds.flatMap((kind) => {
    const hash = hashes[kind];
    const fields = Object.entries(hash?.fields ?? {}).flat();
    return [hash?.ttlMs ?? 0, fields.length / 2, ...fields];
  });
  return Number(await client.redis.restoreHashes(keys.length, ...keys, ...args)) === 1;
}
