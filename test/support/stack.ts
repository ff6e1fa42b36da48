import Redis from 'ioredis';
import { Kafka, Producer } from 'kafkajs';
import { TopicMap, topicNames } from '@switchyard/contracts';
import { BaseEnv, ServiceDefinition } from '@switchyard/runtime';
import { OpenSpecLog } from '@switchyard/spec-log';
import { collect, Collector, deleteTopicsByPrefix, isolation, producerFor, testKafka } from './kafka';
import { PrivateRedis, startPrivateRedis } from './private-redis';
import { freePort, ServiceProcess, spawnService } from './processes';
import { deleteByPrefix } from './redis';
import { RunningService, startService, testSpecLog } from './services';

/**
 * How long one thing of a stack may take to start. On a loaded machine a start can hang
 * (a broker that never answers a join); past this the stack fails naming what hung, not
 * with jest's anonymous hook timeout.
 */
export const START_TIMEOUT_MS = 3 * 60 * 1000;

/**
 * Things started in order and stopped in the reverse order. Each is handed out at once as a
 * stand-in that forwards to the real thing once it has started, so a test can name it
 * before its `beforeAll` has run.
 */
export class Resources {
  private readonly started: { stop: () => Promise<void> }[] = [];
  private readonly pending: { name: string; start: () => Promise<void> }[] = [];
  /** Set by `stopAll`: a start that ends after it (one that timed out) is stopped at once. */
  private stopped = false;

  constructor(private readonly startTimeoutMs = START_TIMEOUT_MS) {}

  /** Registers `start` for `startAll`; its result is reached through the returned stand-in. */
  add<T extends object>(name: string, start: () => Promise<T>, stop: (resource: T) => Promise<void>): T {
    let resource: T | undefined;
    this.pending.push({
      name,
      start: async () => {
        const value = await start();
        if (this.stopped) return stop(value);
        resource = value;
        this.started.push({ stop: () => stop(value) });
      },
    });
    return standIn(name, () => resource);
  }

  /** Starts now what a test needs mid-way (a restart, a second instance); stopped with the rest. */
  async addNow<T>(start: () => Promise<T>, stop: (resource: T) => Promise<void>): Promise<T> {
    const value = await start();
    this.started.push({ stop: () => stop(value) });
    return value;
  }

  /** The longest `startAll` may take: every start's limit, and one more for the hook itself. */
  get startCeilingMs(): number {
    return (this.pending.length + 1) * this.startTimeoutMs;
  }

  /** Starts each in turn; one that takes longer than the start timeout fails the start, named. */
  async startAll(): Promise<void> {
    for (const { name, start } of this.pending.splice(0)) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${name} did not start within ${this.startTimeoutMs / 1000} s (see its log)`)), this.startTimeoutMs);
      });
      try {
        await Promise.race([start(), timeout]);
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /** Stops everything started, the last first; one that fails does not keep the others running. */
  async stopAll(): Promise<void> {
    this.stopped = true;
    const errors: unknown[] = [];
    for (const { stop } of this.started.splice(0).reverse()) await stop().catch((error: unknown) => errors.push(error));
    if (errors.length) throw errors[0];
  }
}

/** An object that forwards every use to `current()`, or says what was used too early. */
function standIn<T extends object>(name: string, current: () => T | undefined): T {
  const target = () => current() ?? fail(`${name} was used before the stack started it (in beforeAll)`);
  return new Proxy({} as T, {
    get: (_, key) => {
      const real = target();
      const value = Reflect.get(real, key, real);
      return typeof value === 'function' ? value.bind(real) : value;
    },
    set: (_, key, value) => Reflect.set(target(), key, value),
    has: (_, key) => Reflect.has(target(), key),
  });
}

function fail(message: string): never {
  throw new Error(message);
}

type Overrides = Record<string, string>;
/** A service's environment besides the stack's (prefixes, private Redis), or a function of the stack when it depends on what started before. */
type EnvOf = Overrides | ((stack: StackBase) => Overrides);
type ServiceNeed = ServiceDefinition<any> | [ServiceDefinition<any>, EnvOf];
type ProcessNeed = [app: string, env?: EnvOf];

export interface StackNeeds<S, P, C> {
  /** The test file's isolation (`isolation(name)`): every service gets its prefixes; afterAll deletes its keys. */
  ids: ReturnType<typeof isolation>;
  /** A Redis server of the stack's own, started first, which every service and the spec log use. */
  privateRedis?: boolean;
  /** Services run in this process, started in this order. */
  services?: S;
  /** Services run from dist/ as processes of their own (on free ports), started after those in `services`. */
  processes?: P;
  /** A spec-log writer, for tests that change specs without a router's API. */
  specLog?: boolean;
  /** A plain connection to the stack's Redis, for looking at keys directly. */
  redis?: boolean;
  /** The tests' idempotent producer. */
  producer?: boolean;
  /** Collectors reading these topics from the beginning, by the name the test gives them. */
  collect?: C;
}

export interface StackBase {
  ids: ReturnType<typeof isolation>;
  topics: TopicMap;
  kafka: Kafka;
  /** What every service of the stack gets besides its own overrides. */
  env: Overrides;
  privateRedis: PrivateRedis;
  specs: OpenSpecLog;
  producer: Producer;
  redis: Redis;
  /** Starts a service now (a restart, a second instance) with the stack's environment; it is closed with the stack. */
  start<E extends BaseEnv>(definition: ServiceDefinition<E>, overrides?: Overrides): Promise<RunningService>;
  /** Spawns a built service now (on `port`, else a free one) with the stack's environment; it is killed with the stack. */
  spawn(app: string, overrides?: Overrides, port?: number): Promise<ServiceProcess>;
}

export type Stack<S, P, C> = StackBase & { [K in keyof S]: RunningService } & { [K in keyof P]: ServiceProcess } & { [K in keyof C]: Collector };

/**
 * What a test file runs against, stated once: the stack starts it in beforeAll, in the order
 * Redis, services, processes, spec log, Redis connection, producer, collectors, and stops it in afterAll in the
 * reverse order, then deletes the file's keys. Its members can be destructured at once:
 *
 *   const { router, producer, predictions } = useStack({
 *     ids,
 *     services: { modelServer: modelServerService, router: [routerService, { KAFKA_INGRESS: 'false' }] },
 *     producer: true,
 *     collect: { predictions: 'predictions' },
 *   });
 */
export function useStack<
  S extends Record<string, ServiceNeed> = Record<never, ServiceNeed>,
  P extends Record<string, ProcessNeed> = Record<never, ProcessNeed>,
  C extends Record<string, keyof TopicMap> = Record<never, keyof TopicMap>,
>(needs: StackNeeds<S, P, C>): Stack<S, P, C> {
  const resources = new Resources();
  const { ids } = needs;
  const kafka = testKafka();
  const privateRedis = needs.privateRedis
    ? resources.add('privateRedis', startPrivateRedis, (redis) => redis.stop())
    : absent<PrivateRedis>('privateRedis', 'privateRedis: true');
  const base: StackBase = {
    ids,
    topics: topicNames(ids.topicPrefix),
    kafka,
    get env() {
      return { TOPIC_PREFIX: ids.topicPrefix, REDIS_PREFIX: ids.redisPrefix, ...(needs.privateRedis && { REDIS_URL: privateRedis.url }) };
    },
    privateRedis,
    specs: absent<OpenSpecLog>('specs', 'specLog: true'),
    producer: absent<Producer>('producer', 'producer: true'),
    redis: absent<Redis>('redis', 'redis: true'),
    start: (definition, overrides = {}) =>
      resources.addNow(
        () => startService(definition, { ...base.env, ...overrides }),
        (service) => service.close(),
      ),
    spawn: async (app, overrides = {}, port) =>
      resources.addNow(async () => spawnService(app, port ?? (await freePort()), { ...base.env, ...overrides }), kill),
  };
  const envOf = (env: EnvOf | undefined) => ({ ...base.env, ...(typeof env === 'function' ? env(base) : env) });
  const members: Record<string, unknown> = {};
  for (const [name, need] of Object.entries(needs.services ?? {})) {
    const [definition, env] = Array.isArray(need) ? need : [need, undefined];
    members[name] = resources.add(
      name,
      () => startService(definition, envOf(env)),
      (service) => service.close(),
    );
  }
  for (const [name, [app, env]] of Object.entries(needs.processes ?? {})) {
    members[name] = resources.add(name, async () => spawnService(app, await freePort(), envOf(env)), kill);
  }
  if (needs.specLog)
    base.specs = resources.add(
      'specs',
      () => testSpecLog(base.env),
      (specs) => specs.close(),
    );
  if (needs.redis)
    base.redis = resources.add(
      'redis',
      async () => new Redis(base.env.REDIS_URL ?? process.env.REDIS_URL!),
      async (redis) => redis.disconnect(),
    );
  if (needs.producer)
    base.producer = resources.add(
      'producer',
      () => producerFor(kafka),
      (producer) => producer.disconnect(),
    );
  for (const [name, topic] of Object.entries(needs.collect ?? {})) {
    members[name] = resources.add(
      name,
      () => collect(kafka, base.topics[topic]),
      (collector) => collector.stop(),
    );
  }

  // Each start has its own limit (START_TIMEOUT_MS); the hook's covers them all, so the first to hang is the one named.
  beforeAll(() => resources.startAll(), resources.startCeilingMs);
  afterAll(async () => {
    await resources.stopAll();
    if (!needs.privateRedis) await deleteByPrefix(ids.redisPrefix);
    await deleteTopicsByPrefix(kafka, ids.topicPrefix);
  });

  return Object.assign(base, members) as Stack<S, P, C>;
}

async function kill(service: ServiceProcess): Promise<void> {
  service.child.kill('SIGKILL');
  await service.exited;
}

function absent<T extends object>(name: string, need: string): T {
  return standIn<T>(name, () => fail(`this stack has no ${name} (${need})`));
}
