import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import Redis from 'ioredis';
import { isValidName } from '@switchyard/contracts';
import { BaseEnv, HealthRegistry } from '@switchyard/runtime';
import { defineScripts, ScriptedRedis } from './scripts';

/** The process's Redis connection (commands and Lua) and the key prefix every key starts with. */
@Injectable()
export class RedisClient implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RedisClient.name);
  readonly redis: ScriptedRedis;
  readonly prefix: string;
  private readonly subscribers: Redis[] = [];

  constructor(
    private readonly env: BaseEnv,
    private readonly health: HealthRegistry,
  ) {
    this.prefix = env.REDIS_PREFIX;
    this.redis = defineScripts(new Redis(env.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 3 }));
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

  /** A dedicated connection in subscriber mode (one cannot issue commands on it). */
  async subscribe(channel: string, onMessage: (message: string) => void): Promise<void> {
    const subscriber = new Redis(this.env.REDIS_URL, { lazyConnect: true });
    this.subscribers.push(subscriber);
    await subscriber.connect();
    subscriber.on('message', (_channel: string, message: string) => onMessage(message));
    subscriber.on('error', (error) => this.logger.warn({ error: error.message }, 'redis subscriber error'));
    await subscriber.subscribe(channel);
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.subscribers, this.redis].map((connection) => connection.quit().catch(() => connection.disconnect())));
  }
}
