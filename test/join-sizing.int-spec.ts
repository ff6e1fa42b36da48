import { PredictionEvent } from '@switchyard/contracts';
import { BaseEnv, HealthRegistry } from '@switchyard/runtime';
import { CompletedPair, JoinStateStore, RedisClient, ReportStore } from '@switchyard/store';
import { JOIN_BUCKETS, joinBucket, pairField, reportCounts } from '@switchyard/strategies';
import { predictionEvent } from './support/events';
import { PrivateRedis, startPrivateRedis } from './support/private-redis';

const PENDING = 20000;
const BATCH = 500;

/**
 * Measures Redis memory per pending prediction, per deployment and per variant (the
 * docs/failures.md's sizing table: run with `npx jest --selectProjects integration --runInBand
 * --testPathPatterns test/join-sizing`, figures printed), and checks that join state is
 * bounded by the window: once swept, it is gone.
 */
describe('join state sizing (a private Redis)', () => {
  let redis: PrivateRedis;
  let client: RedisClient;
  let state: JoinStateStore;
  let reports: ReportStore;

  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await client.redis.info('memory'))![1]);
  const prediction = (i: number, extra: Partial<PredictionEvent> = {}) =>
    predictionEvent({
      requestId: `0b7f6c8e-3a52-4d1c-9e07-${String(i).padStart(12, '0')}`,
      deployment: 'churn',
      strategy: 'canary',
      specVersion: 3,
      probability: 0.9,
      outputs: [{ name: 'label', shape: [1], datatype: 'INT64', data: [1] }],
      latencyMs: 4.2,
      ...extra,
    });
  const live = { ttlSeconds: 3900, nowMs: Date.now() };
  const record = (p: PredictionEvent, offset: number) => ({
    requestId: p.requestId,
    deployment: p.deployment,
    pair: pairField(p),
    prediction: p,
    token: `switchyard.predictions:3:${offset}`,
  });

  beforeAll(async () => {
    redis = await startPrivateRedis();
    client = new RedisClient(Object.assign(new BaseEnv(), { REDIS_URL: redis.url, REDIS_PREFIX: 'sy:' }), new HealthRegistry());
    await client.onModuleInit();
    state = new JoinStateStore(client);
    reports = new ReportStore(client);
    await state.setReady(true);
  });

  afterAll(async () => {
    await client?.onApplicationShutdown();
    await redis?.stop();
  });

  it('holds a pending prediction in a few hundred bytes, and nothing once its window is swept', async () => {
    const before = await usedMemory();
    for (let i = 0; i < PENDING; i += BATCH) {
      await state.recordPredictions(
        Array.from({ length: BATCH }, (_, j) => record(prediction(i + j), i + j)),
        () => live,
      );
    }
    const perPending = ((await usedMemory()) - before) / PENDING;
    const json = JSON.stringify(prediction(0)).length;

    const feedback = Array.from({ length: PENDING }, (_, i) => ({
      requestId: prediction(i).requestId,
      feedback: { feedbackAt: new Date().toISOString(), label: 1 },
      token: `switchyard.feedback:3:${i}`,
    }));
    const beforeFeedback = await usedMemory();
    const completed: CompletedPair[] = [];
    for (let i = 0; i < PENDING; i += BATCH) completed.push(...(await state.recordFeedback(feedback.slice(i, i + BATCH), () => live)).candidates);
    const perJoined = ((await usedMemory()) - beforeFeedback) / PENDING;
    expect(completed).toHaveLength(PENDING);
    // What the joiner does once each batch's transaction committed.
    for (let i = 0; i < PENDING; i += BATCH) expect(await state.compactPairs(completed.slice(i, i + BATCH))).toBe(BATCH);
    const perCompacted = ((await usedMemory()) - before) / PENDING;
    const sample = await client.redis.hgetall(`sy:{join.${joinBucket(prediction(0).requestId)}}:r:${prediction(0).requestId}`);
    // A joined pair waits for nothing: its prediction's charge to the pending limits is given back.
    const held = await Promise.all(Array.from({ length: JOIN_BUCKETS }, (_, b) => client.redis.hget(`sy:{join.${b}}:held`, 'p:n')));
    expect(held.reduce((sum, n) => sum + Number(n ?? 0), 0)).toBe(0);

    const keys = await client.redis.dbsize();
    let swept = 0;
    for (;;) {
      const { expired, more } = await state.sweep(Date.now() + 1, 5000);
      swept += expired.length;
      if (!more) break;
    }
    const after = await usedMemory();
    console.log(
      JSON.stringify({
        pendingPredictions: PENDING,
        predictionJsonBytes: json,
        bytesPerPendingPrediction: Math.round(perPending),
        bytesAddedByItsFeedbackAndClaim: Math.round(perJoined),
        bytesPerJoinedRequestCompacted: Math.round(perCompacted),
        compactedHash: sample,
        keysWhilePending: keys,
        keysAfterSweep: await client.redis.dbsize(),
        usedMemoryGrowthAfterSweep: after - before,
      }),
    );
    expect(swept).toBe(PENDING);
    // Only the 16 bucket markers and their 16 counters of what is pending (lua/join-cap.lua) are left: the state is bounded by the window.
    expect(await client.redis.dbsize()).toBe(32);
    // The JSON less what the key and field hold, its token, the hash, its expiry, the seen-set entry and its charge to the pending limits.
    expect(perPending).toBeLessThan(json + 700);
    // Joined and committed: the feedback and the claim are all that is left of the pair.
    expect(Object.keys(sample).sort()).toEqual(['d:churn:v1:served', 'f']);
    expect(perCompacted).toBeLessThan(perPending);
  });

  it('keeps a report of a few hundred bytes per deployment and per variant, whatever the traffic', async () => {
    const report = reports.key('churn');
    let next = 0;
    const count = async (variants: string[], n: number) => {
      for (let partition = 0; partition < 6; partition++) {
        for (let i = 0; i < n; i += BATCH, next += BATCH) {
          const batch = Array.from({ length: BATCH }, (_, j) =>
            prediction(i + j, { variant: variants[(i + j) % variants.length], latencyMs: (i + j) % 700, specVersion: 3 }),
          );
          await reports.add([
            {
              deployment: 'churn',
              topic: 'switchyard.predictions',
              partition,
              lastOffset: String(next + BATCH - 1),
              counted: batch.map((p, j) => ({ offset: String(next + j), ...reportCounts(p) })),
            },
          ]);
        }
      }
    };
    await count(['v1'], 1000);
    const oneVariant = Number(await client.redis.memory('USAGE', report));
    await count(['v1', 'v2'], 1000);
    const twoVariants = Number(await client.redis.memory('USAGE', report));
    await count(['v1', 'v2'], 10000);
    const moreTraffic = Number(await client.redis.memory('USAGE', report));
    console.log(
      JSON.stringify({ reportBytesOneVariant: oneVariant, reportBytesPerMoreVariant: twoVariants - oneVariant, reportBytesAfter10xTraffic: moreTraffic }),
    );
    expect(Number((await reports.read('churn'))['v2:served:requests'])).toBe(6 * (500 + 5000));
    // Counters grow in digits only (a listpack entry of a few more bytes), not in fields.
    expect(moreTraffic - twoVariants).toBeLessThan(64);
  });
});
