import { Injectable } from '@nestjs/common';
import type { FittedPolicy, Weights } from '@switchyard/strategies';
import { decodeNumberRecord, parseJson } from './codec';
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
  /**
   * A contextual bandit's arms' fitted models (`fitContextualPolicy`), as stored: the router
   * checks them (`policyModels`) before drawing with them; `weights` then serve only the
   * requests whose context cannot be read.
   */
  policy?: unknown;
  /** A contextual bandit's shares per segment when computed (`segmentWeights`), for status. */
  segments?: Record<string, Weights>;
}

/** What a contextual bandit stores beside its context-free weights. */
export interface StoredPolicy {
  policy: FittedPolicy;
  segments: Record<string, Weights>;
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

  /**
   * Claims the next computation of `deployment`'s weights for `ttlMs` (`{<deployment>}:snapshot`),
   * across all updaters: false while another's claim (or this one's previous) holds.
   */
  async claimSnapshot(deployment: string, ttlMs: number): Promise<boolean> {
    return (await this.client.redis.set(this.client.deploymentKey(deployment, 'snapshot'), '1', 'PX', ttlMs, 'NX')) === 'OK';
  }

  /** The version of the latest weights (0 when none were written). */
  async version(deployment: string): Promise<number> {
    return Number((await this.client.redis.hget(this.key(deployment), 'version')) ?? 0);
  }

  /** Writes weights as the version after `expected`; answers that version, or undefined when `expected` is no longer current. */
  async write(
    deployment: string,
    expected: number,
    weights: Weights,
    specVersion: number,
    computedAt = new Date().toISOString(),
    contextual?: StoredPolicy,
  ): Promise<number | undefined> {
    const policy = contextual ? [JSON.stringify(contextual.policy), JSON.stringify(contextual.segments)] : [];
    const version = Number(await this.client.redis.writeWeights(this.key(deployment), expected, JSON.stringify(weights), specVersion, computedAt, ...policy));
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
  const weights = decodeNumberRecord(hash.weights, (weight) => Number.isFinite(weight) && weight >= 0);
  if (!weights) return undefined;
  const stored: StoredWeights = { weights, version, specVersion: Number(hash.specVersion) || 0, computedAt: hash.computedAt ?? '' };
  const policy = hash.policy === undefined ? undefined : parseJson(hash.policy);
  if (policy?.ok) stored.policy = policy.value;
  const segments = hash.segments === undefined ? undefined : parseJson(hash.segments);
  if (segments?.ok && typeof segments.value === 'object' && segments.value !== null) stored.segments = segments.value as Record<string, Weights>;
  return stored;
}
