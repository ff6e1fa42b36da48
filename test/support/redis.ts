import Redis, { Cluster } from 'ioredis';
import { BaseEnv, HealthRegistry } from '@switchyard/runtime';
import { openRedis, parseStats, RedisClient, RedisConnection } from '@switchyard/store';
import type { ArmStats } from '@switchyard/strategies';
import { isolation } from './kafka';

/** Deletes this test's keys only: the Redis server (or cluster) is shared with other runs. */
export async function deleteByPrefix(prefix: string, url = process.env.REDIS_URL!): Promise<void> {
  const redis = openRedis(url);
  try {
    await redis.connect();
    // A cluster's keys are spread over its masters: each is scanned on its own.
    for (const server of serversOf(redis)) {
      for await (const keys of server.scanStream({ match: `${prefix}*`, count: 500 })) {
        // One DEL per key: on a cluster a DEL of several keys must stay within one slot.
        await Promise.all((keys as string[]).map((key) => redis.del(key)));
      }
    }
  } finally {
    redis.disconnect();
  }
}

/** The Redis deployments the store tests run on: [kind, REDIS_URL]; both are set by the global setup. */
export function redisTargets(): [kind: 'single' | 'cluster', url: string][] {
  return [
    ['single', process.env.REDIS_URL!],
    ['cluster', process.env.REDIS_CLUSTER_URL!],
  ];
}

export interface TestRedis {
  kind: 'single' | 'cluster';
  /** The store library's client on this Redis, with a key prefix of its own: build stores on it. */
  client: RedisClient;
  /** A plain connection to the same Redis, for looking at keys directly. */
  raw: RedisConnection;
}

/**
 * Runs a describe block once on a single Redis and once on the 3-master Redis Cluster
 * (`scripts/infra.sh redis-cluster`, started once per run by the global setup), so a key
 * layout or a multi-key script, pipeline or transaction that crosses slots fails here.
 * A store test adopts it by changing its `describe` line:
 *
 *   describeOnEachRedis('ArmStatsStore', (redis) => {
 *     const store = new ArmStatsStore(redis.client);   // built at once: nothing connects until beforeAll
 *     it('…', async () => { … });
 *   });
 */
export function describeOnEachRedis(title: string, body: (redis: TestRedis) => void): void {
  describe.each(redisTargets())(`${title} (%s Redis)`, (kind, url) => body(useTestRedis(kind, url)));
}

/** A client on `url` for the enclosing describe block: connected in beforeAll; afterAll deletes its keys and closes it. */
export function useTestRedis(kind: TestRedis['kind'], url: string): TestRedis {
  const { redisPrefix } = isolation(`store-${kind}`);
  const client = new RedisClient({ REDIS_URL: url, REDIS_PREFIX: redisPrefix } as BaseEnv, new HealthRegistry());
  const raw = openRedis(url);

  beforeAll(async () => {
    await Promise.all([client.onModuleInit(), raw.connect()]);
  });

  afterAll(async () => {
    await deleteByPrefix(redisPrefix, url);
    await client.onApplicationShutdown();
    raw.disconnect();
  });

  return { kind, client, raw };
}

/** The servers holding a connection's keys: each master of a cluster, or the one server. */
export function serversOf(redis: RedisConnection): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}

/**
 * Whether every deployment's reward statistics (the `kind` hash: the totals, or the cohort
 * and paired cells) equal a recount of the joined topic: counts exactly, sums within rounding.
 */
export async function statisticsEqual(
  redis: Redis,
  redisPrefix: string,
  deployments: readonly string[],
  recount: Map<string, Record<string, ArmStats>>,
  kind: 'stats' | 'cohorts' = 'stats',
): Promise<boolean> {
  for (const deployment of deployments) {
    const got = parseStats(await redis.hgetall(`${redisPrefix}{${deployment}}:${kind}`));
    const want = recount.get(deployment) ?? {};
    if (Object.keys(got).sort().join() !== Object.keys(want).sort().join()) return false;
    for (const [arm, expected] of Object.entries(want)) {
      if (got[arm].count !== expected.count || Math.abs(got[arm].sum - expected.sum) > 1e-9 * Math.max(1, Math.abs(expected.sum))) return false;
    }
  }
  return true;
}
