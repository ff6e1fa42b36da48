import { Injectable } from '@nestjs/common';
import { DecisionEvent, DeploymentStatus, RolloutWrite } from '@switchyard/contracts';
import type { RolloutState } from '@switchyard/strategies';
import { RedisClient } from './redis.client';

/** Renews the lease while `owner` holds it, else takes it when free: 1 when `owner` holds it after. */
const TAKE_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end
return 0
`;

/** Drops the outbox only if it still holds the event just published (a newer one stays). */
const CLEAR_OUTBOX = `
local outbox = redis.call('HGET', KEYS[1], 'outbox')
if outbox and cjson.decode(outbox).eventId == ARGV[1] then redis.call('HDEL', KEYS[1], 'outbox', 'writtenVersion') end
return 0
`;

/** A decision waiting to be published, with the spec version it wrote (if it wrote one). */
export interface PendingDecision {
  event: DecisionEvent;
  writtenVersion?: number;
}

export interface StoredRollout {
  state?: RolloutState;
  outbox?: PendingDecision;
}

type LeaseScripts = {
  takeLease(key: string, owner: string, ms: number): Promise<number>;
  clearOutbox(key: string, eventId: string): Promise<number>;
};

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
  private readonly redis: RedisClient['redis'] & LeaseScripts;

  constructor(private readonly client: RedisClient) {
    client.redis.defineCommand('takeLease', { numberOfKeys: 1, lua: TAKE_LEASE });
    client.redis.defineCommand('clearOutbox', { numberOfKeys: 1, lua: CLEAR_OUTBOX });
    this.redis = client.redis as RedisClient['redis'] & LeaseScripts;
  }

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
    await this.redis.clearOutbox(this.key(deployment), eventId);
  }

  /** Whether `owner` holds the deployment's lease for the next `ms` (taken or renewed). */
  async takeLease(deployment: string, owner: string, ms: number): Promise<boolean> {
    return (await this.redis.takeLease(this.leaseKey(deployment), owner, ms)) === 1;
  }
}
