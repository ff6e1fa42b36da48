import { Injectable } from '@nestjs/common';
import { DecisionEvent, DeploymentStatus, RolloutWrite, validatePlain } from '@switchyard/contracts';
import type { RolloutState } from '@switchyard/strategies';
import { parseJson, UndecodableRecord } from './codec';
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
        : { event: decodeOutbox(deployment, hash.outbox), ...(hash.writtenVersion && { writtenVersion: Number(hash.writtenVersion) }) };
    return { ...(hash.state && { state: decodeState(deployment, hash.state) }), ...(outbox && { outbox }) };
  }

  /** The deployment's rollout status (`{}` when none was written). */
  async status(deployment: string): Promise<DeploymentStatus> {
    const status = await this.client.redis.hget(this.key(deployment), 'status');
    return status === null ? {} : decodeStatus(deployment, status);
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

/** A JSON field of the hash, valid as `cls`, or an `UndecodableRecord` saying `what` is not. */
function decodeField<T extends object>(what: string, json: string, cls: new () => T): T {
  const parsed = parseJson(json);
  const checked = parsed.ok ? validatePlain(cls, parsed.value) : parsed;
  if (!checked.ok) throw new UndecodableRecord(what, checked.problems);
  return checked.value;
}

function decodeStatus(deployment: string, json: string): DeploymentStatus {
  return decodeField(`rollout status of ${deployment}`, json, DeploymentStatus);
}

function decodeOutbox(deployment: string, json: string): DecisionEvent {
  return decodeField(`rollout outbox of ${deployment}`, json, DecisionEvent);
}

/** The controller's comparison state: `RolloutState` has no contract class (it is the controller's own), so only its being an object is checked. */
function decodeState(deployment: string, json: string): RolloutState {
  const parsed = parseJson(json);
  if (!parsed.ok) throw new UndecodableRecord(`rollout state of ${deployment}`, parsed.problems);
  if (typeof parsed.value !== 'object' || parsed.value === null || Array.isArray(parsed.value)) {
    throw new UndecodableRecord(`rollout state of ${deployment}`, ['must be a JSON object']);
  }
  return parsed.value as RolloutState;
}
