import { Cluster } from 'ioredis';
import { DecisionEvent, envelope } from '@switchyard/contracts';
import type { RolloutState } from '@switchyard/strategies';
import { BanditWeightsStore, RedisClient, RolloutStateStore } from '@switchyard/store';
import { describeOnEachRedis, serversOf, TestRedis, useTestRedis } from './support/redis';
import { waitFor } from './support/wait';

/** Deployment names whose weights keys fall on every master of the 3-master cluster (checked in the test). */
const DEPLOYMENTS = ['churn', 'fraud', 'ranker', 'search', 'ads', 'spam'];

const STATE: RolloutState = { subject: 'canary:v2', specVersion: 1, status: 'running', since: '2026-01-01T00:00:00.000Z', baseline: {} };

function decision(eventId: string): DecisionEvent {
  const evidence = { metric: 'reward' as const, n: {}, mean: {}, delta: null, low: null, high: null, alpha: 0.05, srmP: null };
  return { ...envelope('decision'), eventId, deployment: 'churn', action: 'hold', reason: 'not enough evidence', fromVersion: 1, toVersion: 1, evidence };
}

describeOnEachRedis('BanditWeightsStore', (redis) => {
  const store = new BanditWeightsStore(redis.client);

  it('writes with compare-and-set on the version: a writer that read an older one loses', async () => {
    expect(await store.version('churn')).toBe(0);
    expect(await store.write('churn', 0, { a: 0.25, b: 0.75 }, 3, '2026-01-01T00:00:00.000Z')).toBe(1);
    expect(await store.write('churn', 0, { a: 0.5, b: 0.5 }, 3)).toBeUndefined();
    expect(await store.version('churn')).toBe(1);
    expect((await store.readMany(['churn'])).get('churn')).toEqual({
      weights: { a: 0.25, b: 0.75 },
      version: 1,
      specVersion: 3,
      computedAt: '2026-01-01T00:00:00.000Z',
    });
  });

  it('reads the weights of deployments whose keys live on different nodes; those with none are absent', async () => {
    if (redis.raw instanceof Cluster)
      expect(
        await mastersServing(
          redis.raw,
          DEPLOYMENTS.map((name) => store.key(name)),
        ),
      ).toBe(3);
    for (const [i, name] of DEPLOYMENTS.entries()) await store.write(name, await store.version(name), { a: i / 10, b: 1 - i / 10 }, 1);
    const read = await store.readMany([...DEPLOYMENTS, 'never-written']);
    expect([...read.keys()]).toEqual(DEPLOYMENTS);
    for (const [i, name] of DEPLOYMENTS.entries()) expect(read.get(name)!.weights).toEqual({ a: i / 10, b: 1 - i / 10 });
  });
});

describeOnEachRedis('RolloutStateStore', (redis) => {
  const store = new RolloutStateStore(redis.client);

  it('keeps the state and an outbox, and clears the outbox only for the event it holds', async () => {
    const pending = decision('e1');
    await store.save('churn', STATE, pending);
    expect(await store.read('churn')).toEqual({ state: STATE, outbox: { event: pending } });
    await store.clearOutbox('churn', 'e0');
    expect((await store.read('churn')).outbox?.event.eventId).toBe('e1');
    await store.clearOutbox('churn', 'e1');
    expect(await store.read('churn')).toEqual({ state: STATE });
  });

  it("lets one owner at a time hold a deployment's lease, renewing it for its holder", async () => {
    expect(await store.takeLease('churn', 'controller-1', 60000)).toBe(true);
    expect(await store.takeLease('churn', 'controller-2', 60000)).toBe(false);
    expect(await store.takeLease('churn', 'controller-1', 60000)).toBe(true);
    expect(await store.takeLease('fraud', 'controller-2', 60000)).toBe(true);
  });
});

describeOnEachRedis('RedisClient subscriptions', (redis) => {
  it('hears a message published on any node', async () => {
    const channel = `${redis.client.prefix}changed`;
    const heard: string[] = [];
    await redis.client.subscribe(channel, (message) => heard.push(message));
    // The subscriber listens on one master; each publishes once, and every message must arrive.
    const servers = serversOf(redis.raw);
    for (const [i, server] of servers.entries()) await server.publish(channel, `from-${i}`);
    await waitFor(() => heard.length === servers.length, { what: `${servers.length} messages on ${channel}` });
    expect(heard.sort()).toEqual(servers.map((_, i) => `from-${i}`));
  });
});

/**
 * Every key a store writes for a deployment carries its hash tag, so all of them share one
 * cluster slot and one Lua script (or MULTI) may touch any of them. Each store's writes run
 * for a deployment of their own, then every key of the test's prefix that names it is
 * asked for its slot: a key written without the tag fails. A store joins with one row.
 */
const WRITES: [store: string, write: (client: RedisClient, deployment: string) => Promise<unknown>][] = [
  ['bandit weights', (client, deployment) => new BanditWeightsStore(client).write(deployment, 0, { a: 1 }, 1)],
  ['rollout state', (client, deployment) => new RolloutStateStore(client).save(deployment, STATE, decision('e1'))],
  ['rollout lease', (client, deployment) => new RolloutStateStore(client).takeLease(deployment, 'owner', 60000)],
];

describe('key layout on the Redis Cluster', () => {
  const redis = useTestRedis('cluster', process.env.REDIS_CLUSTER_URL!);

  it.each(WRITES)("%s: each key a deployment's writes leave is in the slot of its hash tag", async (store, write) => {
    const deployment = `layout-${store.replace(/\W+/g, '-')}`;
    await write(redis.client, deployment);
    const keys = (await keysUnder(redis, redis.client.prefix)).filter((key) => key.includes(deployment));
    expect(keys.length).toBeGreaterThan(0);
    const tagSlot = await slotOf(redis, `{${deployment}}`);
    for (const key of keys) expect({ key, slot: await slotOf(redis, key) }).toEqual({ key, slot: tagSlot });
  });
});

async function slotOf(redis: TestRedis, key: string): Promise<number> {
  return Number(await redis.raw.cluster('KEYSLOT', key));
}

async function keysUnder(redis: TestRedis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for (const server of serversOf(redis.raw))
    for await (const batch of server.scanStream({ match: `${prefix}*`, count: 500 })) keys.push(...(batch as string[]));
  return keys;
}

/** How many masters serve `keys`: more than one, or a single pipeline would have passed by luck. */
async function mastersServing(cluster: Cluster, keys: string[]): Promise<number> {
  const ranges = await cluster.cluster('SLOTS');
  const slots = await Promise.all(keys.map((key) => cluster.cluster('KEYSLOT', key)));
  return new Set(slots.map((slot) => ranges.find(([from, to]) => slot >= from && slot <= to)![2][1])).size;
}
