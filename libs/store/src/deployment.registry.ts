import { Injectable, Logger } from '@nestjs/common';
import { DeploymentSpec, TOPICS, Validated, validateDeploymentSpec } from '@switchyard/contracts';
import { recordsSkipped } from '@switchyard/runtime';
import type { DeploymentRecord, SpecBody } from '@switchyard/strategies';
import { decodeNumberRecord, parseJson, UndecodableRecord } from './codec';
import { RedisClient } from './redis.client';
import { RolloutStateStore } from './rollout-state.store';

/** The arms of a deployment's current spec as the registry recorded them (see `DeploymentRecord.armsSince`). */
export interface RegisteredArms {
  version: number;
  since: Record<string, number>;
  /** Names this life of the deployment: a deployment deleted and created again has another. */
  incarnation: string;
}

/** What a write of a folded deployment also touches, besides the spec and its history. */
export interface FoldedWriteKeys {
  /** The rollout hash that `rollout` fields go to (`RolloutStateStore.fields`; removed with a deletion too). */
  rollout: string;
  /** Also removed with a deletion (reports, statistics): a re-created deployment starts fresh. */
  removedWithDeletion: string[];
}

/**
 * Deployment specs with their whole version history, as the spec log (Kafka) folds to:
 * Redis is the cache every service reads, `SpecLog` (libs/spec-log) the only writer.
 * Per deployment a hash `{name}:spec` (current, previous, lastVersion, the log offset it
 * reflects, arms, incarnation; `deleted` on a tombstone) and a hash `{name}:history`
 * (version → body). Every change bumps a global epoch and is announced on a channel, so
 * routers can cache specs and still see a change within a second (pub/sub for speed,
 * the epoch for messages missed while disconnected).
 */
@Injectable()
export class DeploymentRegistry {
  readonly channel: string;
  private readonly namesKey: string;
  private readonly epochKey: string;
  private readonly logger = new Logger(DeploymentRegistry.name);
  /** What `list` left out and logged, so a refresh every second logs it once. */
  private readonly undecodable = new Set<string>();

  constructor(
    private readonly client: RedisClient,
    private readonly rollouts: RolloutStateStore,
  ) {
    this.channel = `${client.prefix}deployments:changed`;
    this.namesKey = `${client.prefix}deployments`;
    this.epochKey = `${client.prefix}deployments:epoch`;
  }

  private specKey(name: string): string {
    return this.client.deploymentKey(name, 'spec');
  }

  private historyKey(name: string): string {
    return this.client.deploymentKey(name, 'history');
  }

  /** The current spec, with its rollout status (one round trip; a write landing between the two is announced, and re-read). */
  async get(name: string): Promise<DeploymentSpec | null> {
    const [current, status] = await Promise.all([this.client.redis.hget(this.specKey(name), 'current'), this.rollouts.status(name)]);
    if (current === null) return null;
    const spec = await this.version(name, Number(current));
    return spec && { ...spec, status };
  }

  async version(name: string, version: number): Promise<DeploymentSpec | null> {
    const body = await this.client.redis.hget(this.historyKey(name), String(version));
    if (body === null) return null;
    const decoded = decodeSpecBody(body);
    if (!decoded.ok) throw new UndecodableRecord(`spec ${name}@${version}`, decoded.problems);
    return { ...decoded.value, version };
  }

  async names(): Promise<string[]> {
    return (await this.client.redis.smembers(this.namesKey)).sort();
  }

  /**
   * Every current spec, the reads of all deployments sent at once. One that cannot be
   * decoded (a record written straight to the spec log past validation) is left out,
   * logged once: every router, controller and updater lists all deployments, and one bad
   * spec must not stop them serving and judging the others.
   */
  async list(): Promise<DeploymentSpec[]> {
    const specs = await Promise.all(
      (await this.names()).map((name) =>
        this.get(name).catch((error: unknown) => {
          if (!(error instanceof UndecodableRecord)) throw error;
          if (!this.undecodable.has(error.message)) {
            this.undecodable.add(error.message);
            recordsSkipped.inc({ reader: 'registry', topic: TOPICS.deploymentSpecs });
            this.logger.error({ deployment: name, problems: error.problems }, 'left out a deployment whose spec in Redis cannot be decoded');
          }
          return null;
        }),
      ),
    );
    return specs.filter((spec): spec is DeploymentSpec => spec !== null);
  }

  /** The arms of the current spec with the version each one's run started at; `null` without a spec. */
  async arms(name: string): Promise<RegisteredArms | null> {
    const [current, arms, incarnation] = await this.client.redis.hmget(this.specKey(name), 'current', 'arms', 'incarnation');
    if (current === null || arms === null) return null;
    const since = decodeNumberRecord(arms, (version) => Number.isInteger(version) && version >= 1);
    if (!since) throw new UndecodableRecord(`arms of ${name}`, ['arms must map variants to spec versions']);
    return { version: Number(current), since, incarnation: incarnation ?? '' };
  }

  /** The log offset of the last change written for `name` (-1 when none is). */
  async offset(name: string): Promise<number> {
    return Number((await this.client.redis.hget(this.specKey(name), 'offset')) ?? -1);
  }

  /**
   * Writes `record` as folded up to its offset: only the change at that offset when
   * Redis holds the fold up to `previousOffset` (`whole` false), else the whole record.
   * `rollout` fields go to the rollout-state hash in the same step. Answers whether it
   * was written (false: already there, or, for an incremental write, not on top of the
   * previous change, which the caller then writes whole).
   */
  async write(
    name: string,
    record: DeploymentRecord,
    { previousOffset, whole, rollout = {}, keys }: { previousOffset: number; whole: boolean; rollout?: Record<string, string>; keys: FoldedWriteKeys },
  ): Promise<'written' | 'present' | 'behind'> {
    const versions = whole ? [...record.history.keys()] : record.current === undefined ? [] : [record.current];
    const history = versions.flatMap((version) => [version, encodeSpecBody(record.history.get(version)!)]);
    const keyList = [this.specKey(name), this.historyKey(name), keys.rollout, ...keys.removedWithDeletion];
    const args = [
      previousOffset,
      record.offset,
      whole ? '1' : '0',
      record.deleted ? '1' : '0',
      record.current ?? '',
      record.previous ?? '',
      record.lastVersion,
      record.incarnation ?? '',
      JSON.stringify(record.armsSince),
      this.channel,
      name,
      Object.keys(rollout).length,
      ...Object.entries(rollout).flat(),
      ...history,
    ];
    const answer = Number(await this.client.redis.writeFoldedSpec(keyList.length, ...keyList, ...args));
    if (answer !== 1) return answer === 0 ? 'present' : 'behind';
    // The names set and the epoch are in other slots than the deployment's keys (Redis
    // Cluster), so they follow in their own commands; both are idempotent to repeat.
    await (record.deleted ? this.client.redis.srem(this.namesKey, name) : this.client.redis.sadd(this.namesKey, name));
    await this.client.redis.incr(this.epochKey);
    return 'written';
  }

  /** Changes whenever any deployment changes. */
  async epoch(): Promise<number> {
    return Number((await this.client.redis.get(this.epochKey)) ?? 0);
  }

  onChange(listener: (name: string) => void): Promise<void> {
    return this.client.subscribe(this.channel, listener);
  }
}

export function encodeSpecBody(body: SpecBody): string {
  return JSON.stringify(body);
}

/**
 * A stored spec body as `encodeSpecBody` wrote it: its name and time, and the rest valid
 * in full as a PUT's body must be (`validateDeploymentSpec`: shape and cross-references),
 * or the problems. A spec-log record is written past PUT's checks by whoever may write the
 * topic, so every reader holds what it reads to the same rules.
 */
export function decodeSpecBody(json: string): Validated<SpecBody> {
  const parsed = parseJson(json);
  if (!parsed.ok) return parsed;
  if (typeof parsed.value !== 'object' || parsed.value === null || Array.isArray(parsed.value)) return { ok: false, problems: ['must be a JSON object'] };
  const { name, updatedAt, ...input } = parsed.value as Record<string, unknown>;
  const problems = [...(typeof name === 'string' ? [] : ['name must be a string']), ...(typeof updatedAt === 'string' ? [] : ['updatedAt must be a string'])];
  const checked = validateDeploymentSpec(input);
  if (!checked.ok) problems.push(...checked.problems);
  // Checked above: the stored form is the validated input plus its name and time.
  return problems.length ? { ok: false, problems } : { ok: true, value: parsed.value as SpecBody };
}
