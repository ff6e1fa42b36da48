import { Injectable } from '@nestjs/common';
import { DecisionEvent } from '@switchyard/contracts';
import type { RolloutState } from '@switchyard/strategies';
import { RedisClient } from './redis.client';

/** A decision waiting to be published, with the spec version it wrote (if it wrote one). */
export interface PendingDecision {
  event: DecisionEvent;
  writtenVersion?: number;
}

export interface StoredRollout {
  state?: RolloutState;
  outbox?: PendingDecision;
}

/**
 * The rollout controller's state per deployment (`{<deployment>}:rollout`: its comparison
 * and the decision it has yet to publish, the outbox) and the lease
 * (`{<deployment>}:rollout-lease`) that lets one controller at a time judge a deployment.
 * Both share the deployment's hash tag, so the state can be written in the same script
 * as the deployment's spec (`DeploymentRegistry.write`, folding the spec log) on a Redis Cluster too.
 */
@Injectable()
export class RolloutStateStore {
  constructor(private readonly client: RedisClient) {}

  key(deployment: string): string {
    return this.client.deploymentKey(deployment, 'rollout');
  }

  leaseKey(deployment: string): string {
    return this.client.deploymentKey(deployment, 'rollout-lease');
  }

  async read(deployment: string): Promise<StoredRollout> {
    const hash = await this.client.redis.hgetall(this.key(deployment));
    const outbox =
      hash.outbox === undefined
        ? undefined
        : { event: JSON.parse(hash.outbox) as DecisionEvent, ...(hash.writtenVersion && { writtenVersion: Number(hash.writtenVersion) }) };
    return { ...(hash.state && { state: JSON.parse(hash.state) as RolloutState }), ...(outbox && { outbox }) };
  }

  /** The fields `save` writes, for writers that must put them in the same step as something else (a spec). */
  fields(state: RolloutState, outbox?: DecisionEvent): Record<string, string> {
    return { state: JSON.stringify(state), ...(outbox && { outbox: JSON.stringify(outbox) }) };
  }

  /** Stores the state, and an outbox that wrote no spec (a spec-writing one goes with the spec: `fields`). */
  async save(deployment: string, state: RolloutState, outbox?: DecisionEvent): Promise<void> {
    const multi = this.client.redis.multi().hset(this.key(deployment), this.fields(state, outbox));
    if (outbox) multi.hdel(this.key(deployment), 'writtenVersion');
    await multi.exec();
  }

  async clearOutbox(deployment: string, eventId: string): Promise<void> {
    await this.client.redis.clearOutbox(this.key(deployment), eventId);
  }

  /** Whether `owner` holds the deployment's lease for the next `ms` (taken or renewed). */
  async takeLease(deployment: string, owner: string, ms: number): Promise<boolean> {
    return (await this.client.redis.takeLease(this.leaseKey(deployment), owner, ms)) === 1;
  }
}
