import { Injectable } from '@nestjs/common';
import { DeploymentSpec, DeploymentSpecInput, isValidName, normalizeSpec } from '@switchyard/contracts';
import { RedisClient } from './redis.client';

type StoredBody = Omit<DeploymentSpec, 'version'>;

/**
 * Deployment specs with their whole version history. Every change bumps a global epoch
 * and is announced on a channel, so routers can cache specs and still see a change
 * within a second (pub/sub for speed, the epoch for messages missed while disconnected).
 */
@Injectable()
export class DeploymentRegistry {
  readonly channel: string;
  private readonly namesKey: string;
  private readonly epochKey: string;

  constructor(private readonly client: RedisClient) {
    this.channel = `${client.prefix}deployments:changed`;
    this.namesKey = `${client.prefix}deployments`;
    this.epochKey = `${client.prefix}deployments:epoch`;
  }

  private keys(name: string): [string, string, string, string] {
    if (!isValidName(name)) throw new Error(`invalid deployment name ${JSON.stringify(name)}`);
    const base = `${this.client.prefix}dep:${name}`;
    return [base, `${base}:history`, this.namesKey, this.epochKey];
  }

  async put(name: string, input: DeploymentSpecInput): Promise<DeploymentSpec> {
    return this.store(name, normalizeSpec(name, input));
  }

  /** Stores an already normalised spec body (promote builds one from the current spec). */
  async store(name: string, body: StoredBody): Promise<DeploymentSpec> {
    const version = Number(await this.client.redis.putSpec(...this.keys(name), JSON.stringify(body), name, this.channel));
    return { ...body, version };
  }

  /**
   * Stores `body` only if `expectedVersion` is still current (`null` otherwise: someone
   * changed the spec since it was read), and sets `sideFields` (plus `writtenVersion`,
   * the version stored) in hash `sideKey` in the same atomic step.
   */
  async storeIfCurrent(name: string, body: StoredBody, expectedVersion: number, sideKey: string, sideFields: Record<string, string>): Promise<DeploymentSpec | null> {
    const [base, history, names, epoch] = this.keys(name);
    const pairs = Object.entries(sideFields).flat();
    const version = Number(await this.client.redis.putSpecIf(base, history, names, epoch, sideKey, JSON.stringify(body), name, this.channel, String(expectedVersion), ...pairs));
    return version ? { ...body, version } : null;
  }

  async get(name: string): Promise<DeploymentSpec | null> {
    const [base, history] = this.keys(name);
    const current = await this.client.redis.hget(base, 'current');
    if (current === null) return null;
    return this.version(name, Number(current), history);
  }

  async version(name: string, version: number, historyKey = this.keys(name)[1]): Promise<DeploymentSpec | null> {
    const body = await this.client.redis.hget(historyKey, String(version));
    return body === null ? null : { ...(JSON.parse(body) as StoredBody), version };
  }

  async names(): Promise<string[]> {
    return (await this.client.redis.smembers(this.namesKey)).sort();
  }

  /** Every current spec in two round trips, whatever the number of deployments. */
  async list(): Promise<DeploymentSpec[]> {
    const names = await this.names();
    if (!names.length) return [];
    const currents = await this.client.redis.pipeline(names.map((name) => ['hget', this.keys(name)[0], 'current'])).exec();
    const live = names.flatMap((name, i) => (currents?.[i]?.[1] == null ? [] : [{ name, version: Number(currents[i][1]) }]));
    const bodies = await this.client.redis.pipeline(live.map(({ name, version }) => ['hget', this.keys(name)[1], String(version)])).exec();
    return live.flatMap(({ version }, i) => {
      const body = bodies?.[i]?.[1] as string | null;
      return body ? [{ ...(JSON.parse(body) as StoredBody), version }] : [];
    });
  }

  /** Deletes the spec, its history and `statsKeys` (reports, reward statistics) in one step. */
  async remove(name: string, statsKeys: string[] = []): Promise<boolean> {
    const keys = [...this.keys(name), ...statsKeys];
    return Number(await this.client.redis.deleteSpec(keys.length, ...keys, '', name, this.channel)) === 1;
  }

  /** `null` when the deployment does not exist or has no earlier version to go back to. */
  async rollback(name: string): Promise<{ spec: DeploymentSpec; restoredVersion: number } | null> {
    const [version, restored] = (await this.client.redis.rollbackSpec(...this.keys(name), '', name, this.channel)) as [number, number | null];
    if (!version) return null;
    const spec = await this.version(name, version);
    return spec && { spec, restoredVersion: Number(restored) };
  }

  /** Changes whenever any deployment changes. */
  async epoch(): Promise<number> {
    return Number((await this.client.redis.get(this.epochKey)) ?? 0);
  }

  onChange(listener: (name: string) => void): Promise<void> {
    return this.client.subscribe(this.channel, listener);
  }
}
