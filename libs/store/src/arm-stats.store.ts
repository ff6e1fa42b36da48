import { Injectable } from '@nestjs/common';
import { isValidName } from '@switchyard/contracts';
import type { ArmStats } from '@switchyard/strategies';
import { RedisClient } from './redis.client';

/**
 * Reward statistics per deployment and variant, one hash per deployment with fields
 * `<variant>:count|sum|sumSq`. The bandit updater writes them; the router and the
 * deployment report read them.
 */
@Injectable()
export class ArmStatsStore {
  constructor(private readonly client: RedisClient) {}

  key(deployment: string): string {
    if (!isValidName(deployment)) throw new Error(`invalid deployment name ${JSON.stringify(deployment)}`);
    return `${this.client.prefix}stats:${deployment}`;
  }

  /** Statistics of many deployments in one round trip; arms with no data are absent. */
  async readMany(deployments: string[]): Promise<Map<string, Record<string, ArmStats>>> {
    if (!deployments.length) return new Map();
    const replies = await this.client.redis.pipeline(deployments.map((name) => ['hgetall', this.key(name)])).exec();
    return new Map(deployments.map((name, i) => [name, parseStats((replies?.[i]?.[1] ?? {}) as Record<string, string>)]));
  }

  async read(deployment: string): Promise<Record<string, ArmStats>> {
    return (await this.readMany([deployment])).get(deployment)!;
  }
}

const STAT_FIELDS: string[] = ['count', 'sum', 'sumSq'];

export function parseStats(hash: Record<string, string>): Record<string, ArmStats> {
  const arms: Record<string, ArmStats> = {};
  for (const [field, value] of Object.entries(hash)) {
    const cut = field.lastIndexOf(':');
    const variant = field.slice(0, cut);
    const measure = field.slice(cut + 1) as keyof ArmStats;
    if (cut < 1 || !STAT_FIELDS.includes(measure as string)) continue;
    arms[variant] ??= { count: 0, sum: 0, sumSq: 0 };
    arms[variant][measure] = Number(value);
  }
  return arms;
}
