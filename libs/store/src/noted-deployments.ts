import { RedisClient } from './redis.client';

/**
 * The deployments a store holds state for, as a Redis set beside it (`<prefix><name>`), so
 * a checkpoint lists them all, registered or not. Each process adds a deployment once
 * (remembered here) until `forgetNoted`: called when Redis was lost, as the set went too.
 */
export class NotedDeployments {
  private readonly noted = new Set<string>();
  private readonly key: string;

  constructor(
    private readonly client: RedisClient,
    name: string,
  ) {
    this.key = `${client.prefix}${name}`;
  }

  async note(deployments: Iterable<string>): Promise<void> {
    const fresh = [...new Set(deployments)].filter((d) => !this.noted.has(d));
    if (!fresh.length) return;
    await this.client.redis.sadd(this.key, ...fresh);
    for (const d of fresh) this.noted.add(d);
  }

  forgetNoted(): void {
    this.noted.clear();
  }

  async members(): Promise<string[]> {
    return (await this.client.redis.smembers(this.key)).sort();
  }
}
