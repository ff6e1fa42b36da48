import { Injectable } from '@nestjs/common';
import type { Weights } from '@switchyard/strategies';
import { RedisClient } from './redis.client';

/** A bandit's weights as the updater computed them once for every router. */
export interface StoredWeights {
  /** Variant → share of traffic, summing to 1. */
  weights: Weights;
  /** Grows by one with every write for the deployment; never goes back. */
  version: number;
  /** The spec version the weights were computed for. */
  specVersion: number;
  computedAt: string;
}

/**
 * The weights of bandit deployments, one hash per deployment (`{<deployment>}:weights`,
 * fields `weights` (JSON), `version`, `specVersion`, `computedAt`), written by the bandit
 * updater and read by every router, so all routers serve the same policy and the
 * prediction events name it (`weightsVersion`). Every write is announced on `channel`
 * (the deployment's name), so routers serve new weights as soon as they are stored
 * rather than up to a refresh interval later.
 */
@Injectable()
export class BanditWeightsStore {
  readonly channel: string;

  constructor(private readonly client: RedisClient) {
    this.channel = `${client.prefix}weights:changed`;
  }

  key(deployment: string): string {
    return this.client.deploymentKey(deployment, 'weights');
  }

  /** The version of the latest weights (0 when none were written). */
  async version(deployment: string): Promise<number> {
    return Number((await this.client.redis.hget(this.key(deployment), 'version')) ?? 0);
  }

  /** Writes weights as the version after `expected`; answers that version, or undefined when `expected` is no longer current. */
  async write(deployment: string, expected: number, weights: Weights, specVersion: number, computedAt = new Date().toISOString()): Promise<number | undefined> {
    const version = Number(await this.client.redis.writeWeights(this.key(deployment), expected, JSON.stringify(weights), specVersion, computedAt));
    if (version < 1) return undefined;
    // Announced after the script, not in it: on a Redis Cluster a PUBLISH inside a script
    // that also writes reaches subscribers once more per replica (redis/redis#6575). An
    // announcement lost (with this process, or to an error: the weights are stored, and the
    // caller must go on to publish their audit event) is made up for by the routers'
    // periodic refresh.
    await this.client.redis.publish(this.channel, deployment).catch(() => undefined);
    return version;
  }

  /** Calls `listener` with the deployment's name whenever new weights of it were stored. */
  onChange(listener: (deployment: string) => void): Promise<void> {
    return this.client.subscribe(this.channel, listener);
  }

  /**
   * The weights of many deployments, read concurrently (ioredis sends every command before
   * the first reply comes back); deployments with none (or unreadable ones) are absent.
   * Not one pipeline: on a cluster a pipeline's keys must live on one node, and each
   * deployment's are in a slot of their own.
   */
  async readMany(deployments: string[]): Promise<Map<string, StoredWeights>> {
    const hashes = await Promise.all(deployments.map((name) => this.client.redis.hgetall(this.key(name))));
    const found = new Map<string, StoredWeights>();
    deployments.forEach((name, i) => {
      const stored = parseStoredWeights(hashes[i]);
      if (stored) found.set(name, stored);
    });
    return found;
  }
}

/** The hash as written by `write`, or undefined when it is absent or not what `write` writes. */
export function parseStoredWeights(hash: Record<string, string>): StoredWeights | undefined {
  const version = Number(hash.version);
  if (!Number.isInteger(version) || version < 1 || typeof hash.weights !== 'string') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(hash.weights);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const weights: Weights = Object.create(null);
  for (const [variant, weight] of Object.entries(parsed)) {
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) return undefined;
    weights[variant] = weight;
  }
  return { weights, version, specVersion: Number(hash.specVersion) || 0, computedAt: hash.computedAt ?? '' };
}
