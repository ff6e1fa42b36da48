import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';

/** Containers started when a Docker engine was used; on globalThis since teardown loads this module anew. */
const holder = globalThis as { __switchyardContainers?: { stop: () => Promise<unknown> }[] };
const started = (holder.__switchyardContainers ??= []);

function reachable(hostPort: string, timeoutMs = 1000): Promise<boolean> {
  const [host, port] = hostPort
    .replace(/^rediss?:\/\//, '')
    .replace(/\/.*$/, '')
    .split(':');
  return new Promise((resolve) => {
    const socket = connect({ host, port: Number(port), timeout: timeoutMs });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

function dockerAnswers(): boolean {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes sure a real Kafka and Redis are there and sets KAFKA_BROKERS and REDIS_URL:
 * the ones given in the environment, else containers when a Docker engine answers,
 * else the project's infra script (a Kafka broker from Maven Central, local Redis).
 */
export async function ensureInfrastructure(): Promise<void> {
  process.env.KAFKA_BROKERS ??= '127.0.0.1:9092';
  process.env.REDIS_URL ??= 'redis://127.0.0.1:6379';
  const kafkaUp = await reachable(process.env.KAFKA_BROKERS.split(',')[0]);
  const redisUp = await reachable(process.env.REDIS_URL);
  if (kafkaUp && redisUp) return;

  if (dockerAnswers()) {
    const { KafkaContainer } = await import('@testcontainers/kafka');
    const { RedisContainer } = await import('@testcontainers/redis');
    if (!kafkaUp) {
      const kafka = await new KafkaContainer('confluentinc/cp-kafka:7.9.0').withKraft().withExposedPorts(9093).start();
      started.push(kafka);
      process.env.KAFKA_BROKERS = `${kafka.getHost()}:${kafka.getMappedPort(9093)}`;
    }
    if (!redisUp) {
      const redis = await new RedisContainer('redis:7-alpine').start();
      started.push(redis);
      process.env.REDIS_URL = redis.getConnectionUrl();
    }
    return;
  }

  const script = join(__dirname, '..', '..', 'scripts', 'infra.sh');
  try {
    execFileSync('bash', [script, 'up'], { stdio: 'inherit', timeout: 10 * 60 * 1000 });
  } catch (error) {
    throw new Error(
      `Kafka or Redis is not reachable and "bash scripts/infra.sh up" failed (${(error as Error).message}); start them or set KAFKA_BROKERS and REDIS_URL`,
    );
  }
}

/**
 * Makes sure the 3-master Redis Cluster the store tests also run on is there and sets
 * REDIS_CLUSTER_URL (a redis+cluster:// REDIS_URL): the one given in the environment, else
 * the project's infra script's (ports 7001-7003, or from REDIS_CLUSTER_PORT; a second
 * run finds it up and leaves it as is, like Kafka and Redis).
 */
export function ensureRedisCluster(): void {
  if (process.env.REDIS_CLUSTER_URL) return;
  const script = join(__dirname, '..', '..', 'scripts', 'infra.sh');
  try {
    execFileSync('bash', [script, 'redis-cluster'], { stdio: 'inherit', timeout: 5 * 60 * 1000 });
    process.env.REDIS_CLUSTER_URL = execFileSync('bash', [script, 'redis-cluster-url'], { encoding: 'utf8' }).trim();
  } catch (error) {
    throw new Error(
      `no Redis Cluster: "bash scripts/infra.sh redis-cluster" failed (${(error as Error).message}); start one or set REDIS_CLUSTER_URL=redis+cluster://host:port[,host:port...]`,
    );
  }
}

export async function stopStartedInfrastructure(): Promise<void> {
  await Promise.all(started.splice(0).map((container) => container.stop()));
}
