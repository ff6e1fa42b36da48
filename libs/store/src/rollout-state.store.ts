import { Injectable } from '@nestjs/common';
import { DecisionEvent, DeploymentStatus, RolloutWrite } from '@switchyard/contracts';
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
 * A deployment's rollout per deployment (`{<deployment>}:rollout`): its status (plan step,
 * pause, vetoes: `DeploymentStatus`, folded from the spec log like the spec), the rollout
 * controller's comparison state and the decision it has yet to publish (the outbox), and
 * the lease (`{<deployment>}:rollout-lease`) that lets one controller at a time judge a
 * deployment. All share the deployment's hash tag, so the hash can be written in the same
 * script as the deployment's spec (`DeploymentRegistry.write`, folding the spec log) on a
 * Redis Cluster too. This store owns the hash's encoding: `fields` and the readers.
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

  /** The deployment's rollout status (`{}` when none was written). */
  async status(deployment: string): Promise<DeploymentStatus> {
    const status = await this.client.redis.hget(this.key(deployment), 'status');
    return status === null ? {} : (JSON.parse(status) as DeploymentStatus);
  }

  /**
   * The hash fields of a write folded from the spec log, for `DeploymentRegistry.write` to
   * set in the same step as the spec: the status, and the controller's state and outbox
   * with the version its decision wrote.
   */
  fields({ status, write, writtenVersion }: { status?: DeploymentStatus; write?: RolloutWrite; writtenVersion?: number }): Record<string, string> {
    return {
      ...(status && { status: JSON.stringify(status) }),
      ...(write && { state: JSON.stringify(write.state) }),
      ...(write?.outbox && { outbox: JSON.stringify(write.outbox) }),
      ...(write && writtenVersion !== undefined && { writtenVersion: String(writtenVersion) }),
    };
  }

  /** Stores the state, and an outbox that wrote nothing (a writing one goes through the spec log). */
  async save(deployment: string, state: RolloutState, outbox?: DecisionEvent): Promise<void> {
    const multi = this.client.redis.multi().hset(this.key(deployment), this.fields({ write: { state, outbox } }));
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
