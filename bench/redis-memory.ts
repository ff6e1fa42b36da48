/**
 * Redis keys and memory the bandit updater's statistics take after N joined events,
 * applied straight through `ArmStatsStore.applyRewards` (no Kafka, so a million events
 * take seconds) on a private, empty redis-server:
 *
 *   npm run build && node dist/bench/redis-memory.js [--events 1000000] [--deployments 10] [--partitions 6]
 *
 * Events are spread over the deployments (3 variants each, 1 in 5 a shadow reward) and
 * the partitions, in batches of 500 per partition with offsets in order, as the updater
 * receives them.
 */
import { parseArgs } from 'node:util';
import { BaseEnv, HealthRegistry, loadEnv } from '@switchyard/runtime';
import { ArmStatsStore, RedisClient, RewardRecord } from '@switchyard/store';
import { startPrivateRedis } from '../test/support/private-redis';

const BATCH = 500;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { events: { type: 'string', default: '1000000' }, deployments: { type: 'string', default: '10' }, partitions: { type: 'string', default: '6' } },
  });
  const [events, deployments, partitions] = [values.events, values.deployments, values.partitions].map(Number);
  const redis = await startPrivateRedis();
  const client = new RedisClient(loadEnv(BaseEnv, { REDIS_URL: redis.url, REDIS_PREFIX: 'sy:' }), new HealthRegistry());
  try {
    await client.onModuleInit();
    const store = new ArmStatsStore(client);
    const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await client.redis.info('memory'))![1]);
    const emptyMemory = await usedMemory();
    const nextOffset = new Array<number>(partitions).fill(0);
    const started = performance.now();
    for (let done = 0, batch = 0; done < events; batch++) {
      const partition = batch % partitions;
      const records: RewardRecord[] = Array.from({ length: Math.min(BATCH, events - done) }, (_, i) => {
        const n = done + i;
        return {
          offset: String(nextOffset[partition]++),
          deployment: `d${n % deployments}`,
          variant: `v${Math.floor(n / deployments) % 3}`,
          role: n % 5 === 0 ? 'shadow' : 'served',
          specVersion: 1,
          reward: (n % 7) / 7,
        };
      });
      const outcomes = await store.applyRewards(partition, records, true);
      if (outcomes.some((outcome) => outcome !== 'applied')) throw new Error(`batch ${batch}: not every event applied`);
      done += records.length;
    }
    const seconds = (performance.now() - started) / 1000;
    const keys = await client.redis.dbsize();
    const used = (await usedMemory()) - emptyMemory;
    process.stdout.write(
      `${events} joined events, ${deployments} deployments, ${partitions} partitions: ${keys} keys, used_memory +${used} bytes (${(used / 1024).toFixed(1)} KiB); applied in ${seconds.toFixed(1)} s (${Math.round(events / seconds)} events/s)\n`,
    );
  } finally {
    await client.onApplicationShutdown();
    await redis.stop();
  }
}

void main().catch((error) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
