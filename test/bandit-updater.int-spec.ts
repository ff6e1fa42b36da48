import { Kafka } from 'kafkajs';
import { JoinedEvent, Role, validateDeploymentSpec } from '@switchyard/contracts';
import { ArmStatsStore, parseStats } from '@switchyard/store';
import { ArmStats, PlacedReward, recountRewards, seededRng } from '@switchyard/strategies';
import { banditUpdaterService } from '../apps/bandit-updater/src/bandit-updater.service-definition';
import { collect, groupCaughtUp, isolation, Received } from './support/kafka';
import { http, RunningService } from './support/services';
import { useStack } from './support/stack';
import { statisticsEqual } from './support/redis';
import { waitFor } from './support/wait';
import { joinedEvent, JoinedFields, sendEvents } from './support/events';

/** Messages in a topic no transaction ever wrote to: its partitions' end offsets added up. */
async function topicSize(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

/** A joined event read back from the topic, at its place there. */
const placed = (message: Received): PlacedReward => ({ ...(message.value as JoinedEvent), partition: message.partition, offset: message.offset });

describe('bandit-updater (real Kafka and Redis)', () => {
  const ids = isolation('updater');
  const group = `updater-${ids.groupSuffix}`;
  const updaterEnv = { UPDATE_GROUP: group, SNAPSHOT_INTERVAL_MS: '300', RECONCILE_INTERVAL_MS: '500' };
  const stack = useStack({
    ids,
    services: { updater: [banditUpdaterService, updaterEnv] },
    specLog: true,
    redis: true,
    producer: true,
    collect: { dlq: 'dlq', events: 'deploymentEvents' },
  });
  const { kafka, topics, specs, redis, producer, dlq, events, start } = stack;
  /** The updater now running: the stack's, until a test restarts it. */
  let updater: RunningService = stack.updater;
  let stats: ArmStatsStore;
  let sequence = 0;

  const variants = (...names: string[]) => names.map((name) => ({ name, url: 'http://127.0.0.1:9', model: `m-${name}` }));
  async function put(name: string, names: string[]): Promise<number> {
    const spec = validateDeploymentSpec({ variants: variants(...names), strategy: { type: 'bandit', algorithm: 'thompson', minShare: 0.1 } });
    if (!spec.ok) throw new Error(spec.problems.join('; '));
    return (await specs.put(name, spec.value)).version;
  }
  const reward = (deployment: string, variant: string, value: number, extra: Partial<JoinedFields> = {}) =>
    joinedEvent({ requestId: `req-${++sequence}`, deployment, variant, reward: value, ...extra });
  const caughtUp = () => groupCaughtUp(kafka, group, [topics.joined]);
  const metrics = async () => (await http('GET', `${updater.url}/metrics`)).body as string;

  beforeAll(() => {
    stats = updater.app.get(ArmStatsStore);
  });

  it('counts every joined event once, served and shadow apart, and sends poison to the DLQ', async () => {
    await put('loop', ['a', 'b', 'c']);
    const batch = [
      reward('loop', 'a', 1),
      reward('loop', 'a', 0),
      reward('loop', 'a', 1),
      reward('loop', 'b', 0),
      reward('loop', 'c', 1),
      reward('loop', 'a', 0, { role: 'shadow' }),
      reward('loop', 'a', 1, { role: 'shadow' }),
      reward('other', 'x', 0.25),
      reward('other', 'x', -1.5),
    ];
    await sendEvents(producer, topics.joined, [...batch, 'not json', JSON.stringify({ ...batch[2], type: 'prediction' })]);
    await waitFor(caughtUp, { what: 'the updater to commit the batch' });

    expect(await stats.read('loop')).toEqual({
      a: { count: 3, sum: 2, sumSq: 2 },
      b: { count: 1, sum: 0, sumSq: 0 },
      c: { count: 1, sum: 1, sumSq: 1 },
      'a:shadow': { count: 2, sum: 1, sumSq: 1 },
    });
    expect(await stats.read('other')).toEqual({ x: { count: 1 + 1, sum: -1.25, sumSq: 0.0625 + 2.25 } });
    await waitFor(() => dlq.messages.length >= 2, { what: 'the DLQ records' });
    expect(dlq.messages.map((m) => m.value.error).sort()).toEqual([
      expect.stringContaining('not a joined event'),
      expect.stringContaining('value is not valid JSON'),
    ]);
    expect(await metrics()).toMatch(/switchyard_updater_rejected_total\{[^}]*\} 2/);
  });

  it('counts nothing twice when the group reads the topic again from the start (a redelivery of everything)', async () => {
    const before = { loop: await stats.read('loop'), other: await stats.read('other') };
    await updater.close();
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.resetOffsets({ groupId: group, topic: topics.joined, earliest: true });
    } finally {
      await admin.disconnect();
    }
    updater = await start(banditUpdaterService, updaterEnv);
    stats = updater.app.get(ArmStatsStore);
    await waitFor(caughtUp, { what: 'the updater to read the topic again' });
    expect({ loop: await stats.read('loop'), other: await stats.read('other') }).toEqual(before);
    expect(await metrics()).toMatch(/switchyard_updater_duplicates_total\{[^}]*deployment="loop"[^}]*\} 7/);
  });

  it('publishes weight snapshots of bandit deployments with the floor applied', async () => {
    await sendEvents(
      producer,
      topics.joined,
      Array.from({ length: 40 }, (_, i) => reward('loop', 'c', i % 10 === 0 ? 0 : 1)),
    );
    await waitFor(caughtUp, { what: 'the rewards applied' });
    const current = await stats.read('loop');
    const snapshot = await waitFor(() =>
      events.messages.find((m) => m.value.action === 'weights' && m.value.deployment === 'loop' && m.value.detail.stats.c.count === current.c.count),
    );
    const { weights, stats: snapshotStats, minShare, algorithm } = snapshot.value.detail;
    expect({ minShare, algorithm, specVersion: snapshot.value.specVersion }).toEqual({ minShare: 0.1, algorithm: 'thompson', specVersion: 1 });
    expect(snapshotStats).toEqual({ a: current.a, b: current.b, c: current.c });
    expect(Object.keys(weights).sort()).toEqual(['a', 'b', 'c']);
    expect(Object.values<number>(weights).reduce((s, w) => s + w, 0)).toBeCloseTo(1, 9);
    for (const weight of Object.values<number>(weights)) expect(weight).toBeGreaterThanOrEqual(0.1 - 1e-9);
    expect(weights.c).toBeGreaterThan(weights.b);
    // Only bandits get snapshots.
    expect(events.messages.some((m) => m.value.deployment === 'other')).toBe(false);
  });

  it('starts an added or re-added arm fresh without touching the others, and ignores late rewards of a removed arm', async () => {
    const before = await stats.read('loop');
    const v2 = await put('loop', ['a', 'b']);
    await waitFor(async () => !(await stats.read('loop')).c, { what: 'the removed arm to lose its statistics' });
    expect(await stats.read('loop')).toEqual({ a: before.a, b: before.b, 'a:shadow': before['a:shadow'] });

    // Feedback for predictions the removed arm made under version 1 still arrives.
    await sendEvents(producer, topics.joined, [reward('loop', 'c', 1), reward('loop', 'c', 1, { role: 'shadow' })]);
    await waitFor(caughtUp, { what: 'the late rewards consumed' });
    expect((await stats.read('loop')).c).toBeUndefined();

    const v3 = await put('loop', ['a', 'b', 'c', 'd']);
    expect([v2, v3]).toEqual([2, 3]);
    await waitFor(async () => (await redisArms()).c === '3', { what: 'the re-added arm recorded' });
    await sendEvents(producer, topics.joined, [
      reward('loop', 'c', 1, { specVersion: 1 }),
      reward('loop', 'c', 0, { specVersion: 3 }),
      reward('loop', 'd', 1, { specVersion: 3 }),
      reward('loop', 'a', 1, { specVersion: 3 }),
    ]);
    await waitFor(caughtUp, { what: 'the new arms rewarded' });
    expect(await stats.read('loop')).toEqual({
      a: { count: before.a.count + 1, sum: before.a.sum + 1, sumSq: before.a.sumSq + 1 },
      b: before.b,
      c: { count: 1, sum: 0, sumSq: 0 },
      d: { count: 1, sum: 1, sumSq: 1 },
      'a:shadow': before['a:shadow'],
    });
    expect(await metrics()).toMatch(/switchyard_updater_stale_total\{[^}]*deployment="loop"[^}]*\} 3/);
  });

  it('forgets a deleted deployment and starts it anew when it is created again', async () => {
    await specs.remove('loop');
    await waitFor(async () => Object.keys(await stats.read('loop')).length === 0, { what: 'the statistics removed' });
    await sendEvents(producer, topics.joined, [reward('loop', 'a', 1, { specVersion: 3 })]);
    await waitFor(caughtUp, { what: 'the late reward consumed' });
    expect(await stats.read('loop')).toEqual({});

    expect(await put('loop', ['a', 'e'])).toBe(1);
    await waitFor(async () => (await redisArms()).a === '1', { what: 'the new deployment recorded' });
    await sendEvents(producer, topics.joined, [reward('loop', 'a', 1)]);
    await waitFor(caughtUp, { what: 'the reward consumed' });
    expect(await stats.read('loop')).toEqual({ a: { count: 1, sum: 1, sumSq: 1 } });
  });

  it('recognises a deployment deleted and created again while no updater listened', async () => {
    // What an earlier life left behind, recorded at a higher version than the new life has.
    await redis.hset(stats.armsKey('loop'), '_born', '2020-01-01T00:00:00.000Z', '_v', '9', 'a', '4');
    // Another spec (the same one again would be no new version): its variants listed the other way round.
    expect(await put('loop', ['e', 'a'])).toBe(2);
    await waitFor(async () => (await redisArms())._v === '2', { what: 'the new life recorded' });
    expect(await redisArms()).toMatchObject({ a: '1', e: '1' });
    expect(await stats.read('loop')).toEqual({});
  });

  const redisArms = (): Promise<Record<string, string>> => redis.hgetall(stats.armsKey('loop'));
});

describe('bandit-updater process killed mid-stream (SIGKILL, real processes)', () => {
  const ids = isolation('updater-kill');
  const group = `updater-${ids.groupSuffix}`;
  const env = { UPDATE_GROUP: group, KAFKA_SESSION_TIMEOUT_MS: '6000' };
  const TOTAL = 5000;
  const DEPLOYMENTS = ['alpha', 'beta'];
  const { kafka, topics, redis, producer, spawn } = useStack({ ids, redis: true, producer: true });

  /** Joined events as the joiner writes them: each pair once. */
  function stream(): JoinedEvent[] {
    const rng = seededRng(42);
    const out: JoinedEvent[] = [];
    while (out.length < TOTAL) {
      const deployment = DEPLOYMENTS[Math.floor(rng() * DEPLOYMENTS.length)];
      const variant = `v${1 + Math.floor(rng() * 3)}`;
      const role: Role = rng() < 0.2 ? 'shadow' : 'served';
      // alpha: binary rewards; beta: continuous ones (negative absolute errors).
      const value = deployment === 'alpha' ? (rng() < 0.6 ? 1 : 0) : -Math.round(rng() * 1e6) / 1e4;
      out.push(joinedEvent({ requestId: `k-${out.length}`, deployment, variant, role, reward: value }));
    }
    return out;
  }

  async function countsInRedis(): Promise<number> {
    let total = 0;
    for (const deployment of DEPLOYMENTS) {
      for (const arm of Object.values(parseStats(await redis.hgetall(`${ids.redisPrefix}{${deployment}}:stats`)))) total += arm.count;
    }
    return total;
  }

  async function committedOffsets(): Promise<Map<number, number>> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topics.joined] });
      return new Map(committed.partitions.map((p) => [p.partition, Math.max(0, Number(p.offset))]));
    } finally {
      await admin.disconnect();
    }
  }

  /** Events beyond the group's committed offsets, yet taken in by Redis (at or before their deployment's position). */
  async function appliedNotCommitted(messages: Received[]): Promise<number> {
    const committed = await committedOffsets();
    const positions = new Map<string, Record<string, string>>();
    for (const deployment of DEPLOYMENTS) positions.set(deployment, await redis.hgetall(`${ids.redisPrefix}{${deployment}}:positions`));
    return messages.filter((m) => {
      const position = positions.get(m.value.deployment)?.[m.partition];
      return Number(m.offset) >= (committed.get(m.partition) ?? 0) && position !== undefined && Number(m.offset) <= Number(position);
    }).length;
  }

  it('ends with statistics equal to a recount of the joined topic: nothing lost, nothing applied twice', async () => {
    const started = Date.now();
    const first = await spawn('bandit-updater', env);
    const events = stream();
    const unique = events.length;

    // Produce in chunks while the updater consumes, so the kill lands mid-stream.
    const seen = await collect(kafka, topics.joined);
    let produced = false;
    const producing = (async () => {
      for (let i = 0; i < events.length; i += 50) {
        await sendEvents(producer, topics.joined, events.slice(i, i + 50));
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
      produced = true;
    })();
    await waitFor(async () => (await countsInRedis()) >= unique * 0.3, { what: 'about a third applied', intervalMs: 10 });
    // Freeze the updater right after Redis changed, until it is caught between applying a
    // batch and committing its offsets — the window exactly-once has to survive — then kill it.
    let inWindow = 0;
    while (!inWindow && !produced) {
      const before = await countsInRedis();
      await waitFor(async () => (await countsInRedis()) !== before, { what: 'the next batch applied', intervalMs: 1, timeoutMs: 2000 }).catch(() => undefined);
      first.child.kill('SIGSTOP');
      inWindow = await appliedNotCommitted(seen.messages);
      if (!inWindow) first.child.kill('SIGCONT');
    }
    first.child.kill('SIGKILL');
    await first.exited;
    await seen.stop();
    const atKill = await countsInRedis();

    const second = await spawn('bandit-updater', env);
    await producing;
    const total = await topicSize(kafka, topics.joined);
    expect(total).toBe(TOTAL);
    await waitFor(() => groupCaughtUp(kafka, group, [topics.joined]), { what: 'the restarted updater to commit the whole topic', timeoutMs: 60000 });

    const readBack = await collect(kafka, topics.joined);
    await waitFor(() => readBack.messages.length === total, { what: 'the topic read back' });
    await readBack.stop();
    const recount = recountRewards(readBack.messages.map(placed));
    for (const deployment of DEPLOYMENTS) {
      const applied = parseStats(await redis.hgetall(`${ids.redisPrefix}{${deployment}}:stats`));
      const expected = recount.get(deployment)!;
      expect(Object.keys(applied).sort()).toEqual(Object.keys(expected).sort());
      for (const [arm, want] of Object.entries(expected)) {
        expect({ arm, count: applied[arm].count }).toEqual({ arm, count: want.count });
        expect(Math.abs(applied[arm].sum - want.sum)).toBeLessThan(1e-9 * Math.max(1, Math.abs(want.sum)));
        expect(Math.abs(applied[arm].sumSq - want.sumSq)).toBeLessThan(1e-9 * Math.max(1, Math.abs(want.sumSq)));
      }
    }
    expect(await countsInRedis()).toBe(unique);
    expect(atKill).toBeGreaterThan(0);
    expect(atKill).toBeLessThan(unique);
    // The kill did land between applying and committing: the restart was handed applied events again.
    expect(inWindow).toBeGreaterThan(0);
    const text = (await http('GET', `${second.url}/metrics`)).body as string;
    expect(text).toContain('switchyard_updater_duplicates_total');
    process.stdout.write(
      `SIGKILL test: ${atKill}/${unique} applied at the kill, ${inWindow} of them not committed; ${TOTAL} messages, ${Date.now() - started} ms\n`,
    );
  });
});

describe('bandit-updater after Redis was lost (private Redis restarted empty, two updaters in one group)', () => {
  const ids = isolation('updater-rebuild');
  const group = `updater-${ids.groupSuffix}`;
  const DEPLOYMENTS = ['north', 'south', 'east'];
  const updaterEnv = { UPDATE_GROUP: group };
  const { kafka, topics, privateRedis, redis, producer, updaterA, updaterB } = useStack({
    ids,
    privateRedis: true,
    services: { updaterA: [banditUpdaterService, updaterEnv], updaterB: [banditUpdaterService, updaterEnv] },
    redis: true,
    producer: true,
  });
  let sequence = 0;

  /** `count` joined events with fresh request ids (spread over every partition), each pair once. */
  function traffic(count: number): JoinedEvent[] {
    const rng = seededRng(sequence + 7);
    return Array.from({ length: count }, () => {
      const n = ++sequence;
      const deployment = DEPLOYMENTS[n % DEPLOYMENTS.length];
      return joinedEvent({
        requestId: `r-${n}`,
        deployment,
        variant: `v${1 + Math.floor(rng() * 3)}`,
        role: rng() < 0.2 ? 'shadow' : 'served',
        reward: Math.round(rng() * 1e4) / 1e4,
      });
    });
  }

  async function keysOf(): Promise<string[]> {
    return (await redis.keys(`${ids.redisPrefix}*`)).sort();
  }

  async function applied(): Promise<number> {
    let total = 0;
    for (const deployment of DEPLOYMENTS) {
      for (const arm of Object.values(parseStats(await redis.hgetall(`${ids.redisPrefix}{${deployment}}:stats`)))) total += arm.count;
    }
    return total;
  }

  /** A recount of the whole joined topic, as the statistics should have it. */
  async function recountTopic(): Promise<Map<string, Record<string, ArmStats>>> {
    const total = await topicSize(kafka, topics.joined);
    const readBack = await collect(kafka, topics.joined);
    try {
      await waitFor(() => readBack.messages.length === total, { what: 'the topic read back' });
    } finally {
      await readBack.stop();
    }
    return recountRewards(readBack.messages.map(placed));
  }

  const equals = (recount: Map<string, Record<string, ArmStats>>) => statisticsEqual(redis, ids.redisPrefix, DEPLOYMENTS, recount);

  it('keeps a constant number of keys however many events it applies', async () => {
    await sendEvents(producer, topics.joined, traffic(600));
    await waitFor(async () => (await applied()) === 600, { what: 'the first 600 events applied' });
    const keys = await keysOf();
    // Per deployment its statistics and its positions; per partition one marker.
    expect(keys.filter((k) => k.endsWith(':stats') || k.endsWith(':positions'))).toHaveLength(2 * DEPLOYMENTS.length);
    expect(keys.filter((k) => k.includes('tracked:')).length).toBeGreaterThan(0);
    for (let round = 0; round < 3; round++) {
      await sendEvents(producer, topics.joined, traffic(1000));
      await waitFor(async () => (await applied()) === 1600 + 1000 * round, { what: `round ${round} applied` });
      expect(await keysOf()).toEqual(keys);
    }
  });

  it('after a restart of Redis empty, rebuilds the statistics from the joined topic by itself, equal to a recount', async () => {
    await waitFor(() => groupCaughtUp(kafka, group, [topics.joined]), { what: 'the group to commit everything' });
    await privateRedis.restartEmpty();
    expect(await redis.dbsize()).toBe(0);
    // Traffic goes on: the first batch of each partition finds Redis empty.
    const started = Date.now();
    await sendEvents(producer, topics.joined, traffic(600));
    const recount = await recountTopic();
    await waitFor(() => equals(recount), { what: 'the statistics to equal a recount of the topic', timeoutMs: 60000, intervalMs: 200 });
    const total = [...recount.values()].flatMap((arms) => Object.values(arms)).reduce((sum, arm) => sum + arm.count, 0);
    expect(total).toBe(sequence);
    const metrics = (await Promise.all([updaterA, updaterB].map((u) => http('GET', `${u.url}/metrics`)))).map((r) => r.body as string).join('\n');
    expect(metrics).toMatch(/switchyard_updater_partition_rewinds_total\{[^}]*\} [1-9]/);
    process.stdout.write(`rebuild test: ${total} joined events rebuilt in ${Date.now() - started} ms after Redis was restarted empty\n`);
  });
});
