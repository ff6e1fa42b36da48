/**
 * How long the bandit updater takes to rebuild its statistics from the joined topic after
 * Redis was lost: N joined events on a fresh topic (6 partitions), one updater process
 * (built) against a private redis-server, which is restarted empty once the updater has
 * applied them all; then one more event per partition (traffic going on) and the time
 * until the statistics hold every event again.
 *
 *   npm run build && node dist/bench/stats-rebuild.js [--events 200000]
 */
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { JoinedEvent, topicNames } from '@switchyard/contracts';
import { parseStats } from '@switchyard/store';
import { brokers, cleanupData, createTopics, log, startService, stopAll, TOPIC_PREFIX } from './harness';
import { joinedEvent } from '../test/support/events';
import { startPrivateRedis } from '../test/support/private-redis';

const PARTITIONS = 6;
const DEPLOYMENTS = ['alpha', 'beta', 'gamma'];
const PREFIX = 'rebuild:';

function joined(n: number): JoinedEvent {
  return joinedEvent({
    requestId: `r-${n}`,
    deployment: DEPLOYMENTS[n % DEPLOYMENTS.length],
    variant: `v${n % 3}`,
    role: n % 5 === 0 ? 'shadow' : 'served',
    reward: (n % 7) / 7,
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { events: { type: 'string', default: '200000' } } });
  const events = Number(values.events);
  const topics = topicNames(TOPIC_PREFIX);
  const redisServer = await startPrivateRedis();
  const redis = new Redis(redisServer.url);
  // The restart drops this connection too; ioredis reconnects, and the polling retries.
  redis.on('error', () => undefined);
  const kafka = new Kafka({ brokers: brokers(), clientId: 'bench-rebuild', logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const applied = async () => {
    let total = 0;
    for (const deployment of DEPLOYMENTS)
      for (const arm of Object.values(parseStats(await redis.hgetall(`${PREFIX}{${deployment}}:stats`)))) total += arm.count;
    return total;
  };
  const until = async (count: number) => {
    const started = performance.now();
    while ((await applied()) < count) await new Promise((resolve) => setTimeout(resolve, 100));
    return (performance.now() - started) / 1000;
  };
  try {
    await createTopics(Object.values(topics), PARTITIONS);
    await producer.connect();
    for (let n = 0; n < events; n += 1000) {
      await producer.send({
        topic: topics.joined,
        messages: Array.from({ length: Math.min(1000, events - n) }, (_, i) => joined(n + i)).map((e) => ({ key: e.requestId, value: JSON.stringify(e) })),
      });
    }
    log(`${events} joined events produced`);
    await startService('bandit-updater', 'dist/apps/bandit-updater/src/main.js', {
      TOPIC_PREFIX,
      REDIS_URL: redisServer.url,
      REDIS_PREFIX: PREFIX,
      UPDATE_GROUP: `${TOPIC_PREFIX}updater`,
      LOG_LEVEL: 'warn',
    });
    const first = await until(events);
    log(`first pass: ${events} events applied in ${first.toFixed(1)} s`);
    await redisServer.restartEmpty();
    await producer.send({
      topic: topics.joined,
      messages: Array.from({ length: PARTITIONS }, (_, p) => ({ partition: p, key: `t-${p}`, value: JSON.stringify(joined(events + p)) })),
    });
    const rebuild = await until(events + PARTITIONS);
    process.stdout.write(
      `rebuild after Redis was restarted empty: ${events + PARTITIONS} events in ${rebuild.toFixed(1)} s (${((rebuild * 1e6) / events).toFixed(0)} s per million); first pass ${first.toFixed(1)} s\n`,
    );
  } finally {
    await producer.disconnect().catch(() => undefined);
    await stopAll();
    redis.disconnect();
    await redisServer.stop();
    await cleanupData();
  }
}

void main().catch((error) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
