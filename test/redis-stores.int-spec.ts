import { Cluster } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { DecisionEvent, envelope, SpecChangeEvent } from '@switchyard/contracts';
import {
  addReportCounts,
  applySpecChange,
  emptyRecord,
  JOIN_BUCKETS,
  joinBucket,
  recentBuckets,
  recentExpiresAt,
  reportCounts,
  type RolloutState,
} from '@switchyard/strategies';
import {
  ArmStatsStore,
  BanditWeightsStore,
  DeploymentRegistry,
  JoinStateStore,
  type PredictionRecord,
  RedisClient,
  ReportStore,
  RolloutStateStore,
} from '@switchyard/store';
import { predictionEvent } from './support/events';
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

  it('announces each stored write, whichever node the deployment lives on, and not a refused one', async () => {
    const announced = new Set<string>();
    await store.onChange((name) => announced.add(name));
    await store.write('refused', 1, { a: 1 }, 1);
    for (const name of DEPLOYMENTS) await store.write(name, await store.version(name), { a: 1 }, 1);
    // On the cluster a subscriber may hear one announcement more than once: re-reading is harmless.
    await waitFor(() => announced.size >= DEPLOYMENTS.length, { what: 'an announcement per write' });
    expect([...announced].sort()).toEqual([...DEPLOYMENTS].sort());
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

describeOnEachRedis('ArmStatsStore', (redis) => {
  const store = new ArmStatsStore(redis.client);

  it('applies a batch spanning deployments on different nodes once each, and reads them back together', async () => {
    const records = DEPLOYMENTS.flatMap((deployment, d) =>
      [0, 1, 2].map((i) => ({ offset: String(d * 3 + i), deployment, variant: 'a', role: 'served' as const, specVersion: 1, reward: i })),
    );
    expect(new Set(await store.applyRewards(0, records, true))).toEqual(new Set(['applied']));
    expect(new Set(await store.applyRewards(0, records, true))).toEqual(new Set(['duplicate']));
    const read = await store.readMany(DEPLOYMENTS);
    for (const name of DEPLOYMENTS) expect(read.get(name)!.a).toEqual({ count: 3, sum: 3, sumSq: 5 });
    expect(await store.reconcileArms('churn', 1, { a: 1 }, 'life-1', 60)).toBe(0);
    expect(await store.reconcileArms('churn', 2, { b: 2 }, 'life-1', 60)).toBe(1);
    expect((await store.read('churn')).a).toBeUndefined();
  });

  it('keeps unit sums per cohort cell and unit states per step, and prunes what no comparison can judge (issue #24)', async () => {
    const reward = (offset: number, specVersion: number, value: number, unitKey?: string) => ({
      offset: String(offset),
      deployment: 'units',
      variant: 'v1',
      role: 'served' as const,
      specVersion,
      reward: value,
      cohort: `v1:@${specVersion}:0-600`,
      ...(unitKey && { unitKey }),
    });
    await store.applyRewards(0, [reward(1, 1, 1, 'u1'), reward(2, 1, 1, 'u1'), reward(3, 1, 0), reward(4, 2, 1, 'u1')], true);
    const cells = await store.readCohorts('units');
    // Version 1: unit u1 with n 2, S 2, and a request of its own with n 1, S 0.
    expect(cells.find((cell) => cell.key === '1')!.units).toEqual({ units: 2, countSq: 5, sumSq: 4, countSum: 4 });
    expect(await redis.raw.hkeys(store.unitStateKey('units'))).toEqual(expect.arrayContaining(['v1:@1\nu1', 'v1:@2\nu1']));

    await store.pruneCohorts(
      'units',
      cells.filter((cell) => cell.key === '1'),
      ['1'],
    );
    expect((await store.readCohorts('units')).map((cell) => cell.key)).toEqual(['2']);
    expect(await redis.raw.hkeys(store.unitStateKey('units'))).toEqual(['v1:@2\nu1']);
  });

  it('writes given statistics that it reads back, leaving other arms as they are', async () => {
    await store.write('seeded', { v1: { count: 1, sum: 1, sumSq: 1 }, v2: { count: 5, sum: 2, sumSq: 2 } });
    await store.write('seeded', { v1: { count: 400, sum: 360, sumSq: 360 }, 'v1:shadow': { count: 2, sum: 0.5, sumSq: 0.25 } });

    expect(await store.read('seeded')).toEqual({
      v1: { count: 400, sum: 360, sumSq: 360 },
      v2: { count: 5, sum: 2, sumSq: 2 },
      'v1:shadow': { count: 2, sum: 0.5, sumSq: 0.25 },
    });
  });

  it('snapshots a deployment and writes it back after a loss, with its expiries, never over positions written since', async () => {
    const records = [0, 1, 2].map((i) => ({ offset: String(i), deployment: 'kept', variant: 'a', role: 'served' as const, specVersion: 1, reward: i / 2 }));
    await store.applyRewards(3, records, true);
    await store.reconcileArms('kept', 1, { a: 1 }, 'life-1', 60);
    await redis.raw.pexpire(store.key('kept'), 600000);
    const snapshot = await store.snapshot('kept');
    expect(snapshot.positions.fields).toEqual({ '3': '2' });
    expect(snapshot.stats.ttlMs).toBeGreaterThan(500000);
    const before = await redis.raw.hgetall(store.key('kept'));

    for (const kind of ['stats', 'arms', 'positions', 'cohorts', 'cohort-arms', 'cohort-positions'])
      await redis.raw.del(redis.client.deploymentKey('kept', kind));
    expect(await store.restore('kept', snapshot)).toBe(true);
    expect(await redis.raw.hgetall(store.key('kept'))).toEqual(before);
    expect(await redis.raw.pttl(store.key('kept'))).toBeGreaterThan(500000);
    expect(await store.applyRewards(3, records, false)).toEqual(['duplicate', 'duplicate', 'duplicate']);

    // Positions there: applied since Redis came back, so the checkpoint is older.
    await store.applyRewards(3, [{ ...records[0], offset: '7', reward: 5 }], false);
    expect(await store.restore('kept', snapshot)).toBe(false);
    expect((await store.read('kept')).a.count).toBe(4);
  });
});

describeOnEachRedis('ReportStore', (redis) => {
  const store = new ReportStore(redis.client);
  const served = (probability: number, fallbackFrom?: string) => ({
    variant: 'v1',
    role: 'served' as const,
    latencyMs: 3,
    strategy: 'bandit' as const,
    specVersion: 2,
    probability,
    ...(fallbackFrom && { fallbackFrom }),
  });
  // A bandit's predictions: a fallback (its propensity the chosen v2's), one weighed at 0.3, one too unlikely to weigh.
  const predictions = [served(0.3), served(0.7, 'v2'), served(0.0005), served(1 / 3)];
  const batch = (offsets: number[]) => ({
    deployment: 'churn',
    topic: 'sy.predictions',
    partition: 0,
    lastOffset: String(Math.max(...offsets)),
    counted: offsets.map((offset) => ({ offset: String(offset), ...reportCounts(predictions[offset]) })),
  });

  it("adds a bandit's integer propensity sums with its counters, once per offset, equal to a recount", async () => {
    await store.add([batch([0, 1])]);
    // Redelivered, and carried on: offsets 0 and 1 are not counted again.
    await store.add([batch([0, 1, 2, 3])]);
    const recount = new Map<string, number>();
    const units = new Map<string, number>();
    for (const prediction of predictions) addReportCounts(recount, reportCounts(prediction), units);
    expect(await store.read('churn')).toEqual(Object.fromEntries([...recount].map(([field, value]) => [field, String(value)])));
    expect(await store.read('churn')).toMatchObject({
      // 1/0.3 and 1/(1/3) in millionths, each rounded: 3333333 + 3000000.
      'v1:served:ipw@2': '6333333',
      'v1:served:ipwSq@2': String(Math.round(1000 / 0.09) + 9000),
      'v2:served:ipw@2': String(Math.round(1e6 / 0.7)),
      'v1:served:ipwSkipped@2': '1',
    });
  });

  it('counts each unit of a canary once per split key, and forgets the units of a key it is told to (issue #24)', async () => {
    const canary = (unitKey: string, specVersion: number) => ({
      variant: 'v2',
      role: 'served' as const,
      latencyMs: 3,
      strategy: 'canary' as const,
      specVersion,
      requestId: unitKey,
      unitKey,
    });
    const units = ['a', 'b', 'a', 'c'].map((unit) => canary(unit, 3));
    const counted = (offsets: number[], of = units) => ({
      deployment: 'sticky',
      topic: 'sy.predictions',
      partition: 0,
      lastOffset: String(Math.max(...offsets)),
      counted: offsets.map((offset) => ({ offset: String(offset), ...reportCounts(of[offset]) })),
    });
    await store.add([counted([0, 1])]);
    await store.add([counted([0, 1, 2, 3])]);
    expect((await store.read('sticky'))['v2:served:units@3']).toBe('3');
    // A rebuild's recount replaces the report and the units counted: a unit it counted is not counted again after.
    const recount = new Map<string, number>();
    const memory = new Map<string, number>();
    for (const prediction of units) addReportCounts(recount, reportCounts(prediction), memory);
    await store.replace('rebuilt', recount, [{ topic: 'sy.predictions', partition: 0, offset: '3' }], memory);
    await store.add([{ ...counted([4], [...units, canary('a', 3)]), deployment: 'rebuilt' }]);
    expect((await store.read('rebuilt'))['v2:served:units@3']).toBe('3');
    await store.add([{ ...counted([5], [...units, canary('a', 3), canary('d', 3)]), deployment: 'rebuilt' }]);
    expect((await store.read('rebuilt'))['v2:served:units@3']).toBe('4');

    await store.forgetUnits('sticky', ['3']);
    expect(await redis.raw.hgetall(store.unitsKey('sticky'))).toEqual({});
    expect((await store.read('sticky'))['v2:served:units@3']).toBe('3');
  });

  it('counts served requests per minute in keys that expire once no window reads them', async () => {
    const now = new Date();
    const [current, before] = recentBuckets(now);
    await store.add([
      {
        ...batch([]),
        deployment: 'recent',
        lastOffset: '0',
        recent: [
          [current, 'v1', 3],
          [before, 'v2', 2],
        ],
      },
    ]);
    await store.add([{ ...batch([]), deployment: 'recent', lastOffset: '1', recent: [[current, 'v1', 1]] }]);
    expect(await store.readRecent('recent', recentBuckets(now))).toEqual([{ v1: 4 }, { v2: 2 }, {}, {}, {}]);
    const ttl = await redis.client.redis.ttl(store.recentKey('recent', current));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(recentExpiresAt(current) - Math.floor(now.getTime() / 1000) + 1);
    // A bucket already out of every window (a joiner far behind) is not kept at all.
    const old = current - 3600;
    await store.add([{ ...batch([]), deployment: 'recent', lastOffset: '2', recent: [[old, 'v1', 5]] }]);
    expect(await redis.client.redis.exists(store.recentKey('recent', old))).toBe(0);
  });
});

describeOnEachRedis('JoinStateStore', (redis) => {
  const store = new JoinStateStore(redis.client);
  const timing = () => ({ ttlSeconds: 600, nowMs: Date.now() });

  it('joins requests of every bucket, once per pair, and sweeps them', async () => {
    await store.setReady(true);
    const ids: string[] = [];
    for (let i = 0; ids.length < JOIN_BUCKETS * 2; i++) ids.push(`req-${i}`);
    expect(new Set(ids.map(joinBucket)).size).toBe(JOIN_BUCKETS);
    const predictions = ids.map((requestId, i): PredictionRecord => ({
      requestId,
      deployment: 'churn',
      pair: 'churn:v1:served',
      prediction: predictionEvent({ requestId, deployment: 'churn', outputs: [] }),
      token: `p:0:${i}`,
    }));
    expect((await store.recordPredictions(predictions, timing)).candidates).toEqual([]);
    const feedback = ids.map((requestId, i) => ({ requestId, feedback: { feedbackAt: new Date().toISOString(), reward: 1 }, token: `f:0:${i}` }));
    const joined = (await store.recordFeedback(feedback, timing)).candidates;
    expect(joined.map((c) => ('prediction' in c ? [c.requestId, c.prediction.requestId, c.feedback.reward] : c.undecodable.message)).sort()).toEqual(
      ids.map((id) => [id, id, 1]).sort(),
    );
    expect(
      await store.recordFeedback(
        feedback.map((f) => ({ ...f, token: `${f.token}-again` })),
        timing,
      ),
    ).toEqual({ candidates: [], refused: new Map() });
    const { expired } = await store.sweep(Date.now() + 1000, 100);
    expect(expired.map((e) => e.requestId).sort()).toEqual([...ids].sort());
    expect(expired.every((e) => e.predictions.length === 1 && e.predictions[0].joined)).toBe(true);
    expect(await store.ready()).toBe(true);
  });
});

describeOnEachRedis('DeploymentRegistry (the spec log folded into Redis)', (redis) => {
  const registry = new DeploymentRegistry(redis.client, new RolloutStateStore(redis.client));
  const keys = (name: string) => ({
    rollout: new RolloutStateStore(redis.client).key(name),
    removedWithDeletion: [new ReportStore(redis.client).key(name), new ArmStatsStore(redis.client).key(name)],
  });
  const change = (fields: Partial<SpecChangeEvent>): SpecChangeEvent => ({
    ...envelope('specChange'),
    eventId: randomUUID(),
    deployment: 'churn',
    change: 'put',
    ...fields,
  });
  const body = {
    name: 'churn',
    updatedAt: '2026-11-29T00:00:00.000Z',
    variants: [{ name: 'v1', url: 'http://127.0.0.1:9', model: 'm', protocol: 'v2' as const, timeoutMs: 1000, retries: 0 }],
    strategy: { type: 'single' as const, variant: 'v1' },
    reward: { type: 'match' as const },
  };

  it('writes a change on top of the previous one, a no-op when it is there, and the whole record when Redis is behind', async () => {
    const record = emptyRecord();
    applySpecChange(record, change({ body }), 10);
    expect(await registry.write('churn', record, { previousOffset: -1, whole: false, keys: keys('churn') })).toBe('written');
    applySpecChange(record, change({ body: { ...body, variants: [{ ...body.variants[0], timeoutMs: 2000 }] } }), 11);
    const rollout = new RolloutStateStore(redis.client).fields({ status: { step: 1 } });
    expect(await registry.write('churn', record, { previousOffset: 10, whole: false, rollout, keys: keys('churn') })).toBe('written');
    expect(await registry.write('churn', record, { previousOffset: 10, whole: false, keys: keys('churn') })).toBe('present');
    expect(await registry.get('churn')).toMatchObject({ version: 2, status: { step: 1 } });
    expect(await registry.arms('churn')).toEqual({ version: 2, since: { v1: 1 }, incarnation: '10' });
    expect(await registry.names()).toEqual(['churn']);

    applySpecChange(record, change({ change: 'rollback' }), 12);
    await redis.client.redis.del(redis.client.deploymentKey('churn', 'spec'));
    expect(await registry.write('churn', record, { previousOffset: 11, whole: false, keys: keys('churn') })).toBe('behind');
    expect(await registry.write('churn', record, { previousOffset: -1, whole: true, keys: keys('churn') })).toBe('written');
    expect((await registry.get('churn'))!.version).toBe(3);
    expect((await registry.version('churn', 1))!.updatedAt).toBe(body.updatedAt);

    applySpecChange(record, change({ change: 'delete' }), 13);
    expect(await registry.write('churn', record, { previousOffset: 12, whole: false, keys: keys('churn') })).toBe('written');
    expect(await registry.get('churn')).toBeNull();
    expect(await registry.names()).toEqual([]);
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
  [
    'reward statistics',
    async (client, deployment) => {
      const store = new ArmStatsStore(client);
      await store.applyRewards(0, [{ offset: '1', deployment, variant: 'a', role: 'served', specVersion: 1, reward: 1, cohort: 'a:@1:0-600' }], true);
      await store.reconcileArms(deployment, 1, { a: 1 }, 'life', 60);
    },
  ],
  [
    'report',
    (client, deployment) => new ReportStore(client).replace(deployment, new Map([['a:served:requests', 1]]), [{ topic: 't', partition: 0, offset: '1' }]),
  ],
  [
    'registry',
    (client, deployment) => {
      const record = emptyRecord();
      applySpecChange(
        record,
        {
          ...envelope('specChange'),
          deployment,
          change: 'put',
          body: {
            name: deployment,
            updatedAt: '2026-11-29T00:00:00.000Z',
            variants: [],
            strategy: { type: 'single', variant: 'a' },
            reward: { type: 'match' },
          },
        },
        0,
      );
      return new DeploymentRegistry(client, new RolloutStateStore(client)).write(deployment, record, {
        previousOffset: -1,
        whole: true,
        keys: { rollout: new RolloutStateStore(client).key(deployment), removedWithDeletion: [] },
      });
    },
  ],
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
