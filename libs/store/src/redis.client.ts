import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import Redis, { Cluster, RedisOptions } from 'ioredis';
import { isValidName } from '@switchyard/contracts';
import { BaseEnv, HealthRegistry, parseRedisUrl } from '@switchyard/runtime';
import { defineScripts, StoreScripts } from './scripts';

/** A connection to one Redis server or to a Redis Cluster: the same commands, scripts and pipelines. */
export type RedisConnection = Redis | Cluster;

/** The connection with every store's Lua scripts defined on it (`scripts.ts`). */
export type ScriptedConnection = RedisConnection & StoreScripts;

/**
 * The process's Redis connection (commands and Lua) and the key prefix every key starts
 * with. REDIS_URL names one server or a Redis Cluster (`redis+cluster://`); on a cluster
 * a script's keys, and a pipeline's, must share a slot: `deploymentKey` gives a
 * deployment's keys one.
 */
@Injectable()
export class RedisClient implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RedisClient.name);
  readonly redis: ScriptedConnection;
  readonly prefix: string;
  private readonly subscribers: RedisConnection[] = [];

  constructor(
    private readonly env: BaseEnv,
    private readonly health: HealthRegistry,
  ) {
    this.prefix = env.REDIS_PREFIX;
    this.redis = defineScripts(openRedis(env.REDIS_URL, { maxRetriesPerRequest: 3 }));
  }

  /**
   * A key of one deployment's. The `{deployment}` hash tag puts all of a deployment's keys
   * in one Redis Cluster slot, so one Lua script may touch several of them.
   */
  deploymentKey(deployment: string, kind: string): string {
    if (!isValidName(deployment)) throw new Error(`invalid deployment name ${JSON.stringify(deployment)}`);
    return `${this.prefix}{${deployment}}:${kind}`;
  }

  async onModuleInit(): Promise<void> {
    await this.redis.connect();
    this.health.register('redis', async () => {
      await this.redis.ping();
    });
  }

  /**
   * A dedicated connection in subscriber mode (one cannot issue commands on it). On a
   * cluster a PUBLISH reaches every node, so the subscriber may listen on any of them.
   */
  async subscribe(channel: string, onMessage: (message: string) => void): Promise<void> {
    const subscriber = openRedis(this.env.REDIS_URL);
    this.subscribers.push(subscriber);
    await subscriber.connect();
    subscriber.on('message', (_channel: string, message: string) => onMessage(message));
    subscriber.on('error', (error: Error) => this.logger.warn({ error: error.message }, 'redis subscriber error'));
    await subscriber.subscribe(channel);
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.subscribers, this.redis].map((connection) => connection.quit().catch(() => connection.disconnect())));
  }
}

/** A new, not yet connected, connection to the server or cluster `url` names (a REDIS_URL). */
export function openRedis(url: string, options: RedisOptions = {}): RedisConnection {
  const target = parseRedisUrl(url);
  if (!target) throw new Error('REDIS_URL is neither a redis:// nor a redis+cluster:// URL');
  // Auto-pipelining sends the commands of one turn together, per server on a cluster: the
  // stores issue a batch's calls at once, so a batch costs one round trip per server.
  if (!target.cluster) return new Redis(target.url, { lazyConnect: true, enableAutoPipelining: true, ...options });
  const { nodes, username, password, tls } = target;
  return new Cluster(nodes, { lazyConnect: true, enableAutoPipelining: true, redisOptions: { username, password, ...(tls && { tls: {} }), ...options } });
}
