import fc from 'fast-check';
import { ArmStatsStore, bucketLimits, DEFAULT_PENDING_LIMITS } from '@switchyard/store';
import { describeOnEachRedis, TestRedis } from './support/redis';

/**
 * Every Lua script checks all its arguments before its first write (lua/args.lua): Redis
 * keeps what a script wrote before an error, so before this a reward whose square
 * overflowed applied its first increments, failed on `sumSq`, and applied them again on
 * every retry (7 joined events left count 14). Hostile values go through the real scripts
 * on a single Redis and on the Redis Cluster: a refused call leaves every key as it was,
 * an accepted one applied twice counts once.
 */
const RUNS = 60;
/** The join scripts' limits (lua/join-cap.lua), as the store sends them by default. */
const LIMITS = bucketLimits(DEFAULT_PENDING_LIMITS);

/** Numbers and texts that have broken a script, or could: overflowing, non-finite, malformed. */
const hostileNumber: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '1e200',
    '1e308',
    '1.7976931348623157e308',
    '-1e308',
    '1e400',
    'Infinity',
    '-Infinity',
    'NaN',
    'inf',
    '0x10',
    ' 1',
    '1 ',
    '',
    'abc',
    '-0',
    '1e-400',
    '5e-324',
  ),
  fc.double().map(String),
  fc.integer().map(String),
  fc.string({ maxLength: 8 }),
);

async function snapshot(redis: TestRedis, keys: string[]): Promise<unknown[]> {
  return Promise.all(
    keys.map(async (key) => {
      const type = await redis.raw.type(key);
      if (type === 'hash') return [key, type, await redis.raw.hgetall(key)];
      if (type === 'zset') return [key, type, await redis.raw.zrange(key, 0, -1, 'WITHSCORES')];
      return [key, type, await redis.raw.get(key).catch(() => null)];
    }),
  );
}

/** A hostile text where a script's typing asks for a number: any caller could pass one. */
const asTyped = (text: string) => text as unknown as number;

/** Runs a script call; answers its reply or the error it refused with. */
async function attempt(call: () => Promise<unknown>): Promise<{ ok: true; reply: unknown } | { ok: false; error: string }> {
  try {
    return { ok: true, reply: await call() };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

describeOnEachRedis('Lua scripts refuse a call whole, before any write', (redis) => {
  const store = new ArmStatsStore(redis.client);
  const scripts = () => redis.client.redis;
  let run = 0;

  it('applyRewards: a refused batch leaves nothing; an accepted one applied again counts once (hostile rewards and squares)', async () => {
    const event = fc.record({ reward: fc.oneof(fc.constantFrom('0.5', '1'), hostileNumber), square: fc.oneof(fc.constantFrom('0.25', '1'), hostileNumber) });
    await fc.assert(
      fc.asyncProperty(fc.array(event, { minLength: 1, maxLength: 4 }), fc.constantFrom(0, 1.7e308, -1.7e308), async (events, preset) => {
        const deployment = `args-${++run}`;
        const keys = [store.key(deployment), store.armsKey(deployment), store.positionsKey(deployment)];
        // A sum near a double's limit: one more large increment would overflow it.
        await redis.raw.hset(keys[0], 'v1:sum', String(preset), 'v1:sumSq', '1e300', 'v1:count', '3');
        const args = events.flatMap((e, i) => [String(i + 1), 'v1', 'v1', 1, e.reward, e.square, '', '']);
        const before = await snapshot(redis, keys);
        const first = await attempt(() =>
          scripts().applyRewards(keys[0], keys[1], keys[2], store.unitStateKey(deployment), ...store.heldKeys(deployment), 0, 1, 0, 1000, ...args),
        );
        const after = await snapshot(redis, keys);
        if (!first.ok) {
          expect({ events, error: first.error, after }).toEqual({ events, error: expect.stringMatching(/^BADARGS applyRewards: /), after: before });
          return;
        }
        expect(first.reply).toBe('1'.repeat(events.length));
        const hash = await redis.raw.hgetall(keys[0]);
        expect(Number(hash['v1:count'])).toBe(3 + events.length);
        for (const value of Object.values(hash)) expect(Number.isFinite(Number(value))).toBe(true);
        // Exactly once: the same events again are redeliveries and change nothing.
        expect(
          await scripts().applyRewards(keys[0], keys[1], keys[2], store.unitStateKey(deployment), ...store.heldKeys(deployment), 0, 1, 0, 1000, ...args),
        ).toBe('0'.repeat(events.length));
        expect(await snapshot(redis, keys)).toEqual(after);
      }),
      { numRuns: RUNS },
    );
  });

  it('applyRidge: a refused batch leaves nothing; an accepted one applied again counts once (hostile increments, counts and models)', async () => {
    const event = fc.record({
      values: fc.array(fc.oneof(fc.constantFrom('1', '0.5'), hostileNumber), { minLength: 1, maxLength: 4 }),
      model: fc.oneof(fc.constant('0badf00d.3'), fc.string({ maxLength: 6 })),
      declared: fc.oneof(fc.constant(undefined), hostileNumber),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(event, { minLength: 1, maxLength: 3 }), fc.constantFrom(0, 1.7e308), async (events, preset) => {
        const keys = store.ridgeKeys(`ridge-args-${++run}`);
        await redis.raw.hset(keys[0], 'v1:0badf00d.3:0', String(preset));
        const args = events.flatMap((e, i) => [String(i + 1), e.model, 'v1', '1', e.declared ?? String(e.values.length), ...e.values]);
        const before = await snapshot(redis, keys);
        const first = await attempt(() => scripts().applyRidge(keys[0], keys[1], keys[2], 0, ...args));
        const after = await snapshot(redis, keys);
        if (!first.ok) {
          expect({ events, error: first.error, after }).toEqual({ events, error: expect.stringMatching(/^BADARGS applyRidge: /), after: before });
          return;
        }
        expect(first.reply).toBe('1'.repeat(events.length));
        for (const value of Object.values(await redis.raw.hgetall(keys[0]))) expect(Number.isFinite(Number(value))).toBe(true);
        expect(await scripts().applyRidge(keys[0], keys[1], keys[2], 0, ...args)).toBe('0'.repeat(events.length));
        expect(await snapshot(redis, keys)).toEqual(after);
      }),
      { numRuns: RUNS },
    );
  });

  it('applyRewards through the store: a reward whose square overflows is refused on every retry, nothing counted (issue #25)', async () => {
    const deployment = `args-store-${++run}`;
    const records = [
      { offset: '1', deployment, variant: 'v1', role: 'served' as const, specVersion: 1, reward: 0.5 },
      { offset: '2', deployment, variant: 'v1', role: 'served' as const, specVersion: 1, reward: 1e200 },
    ];
    for (let retry = 0; retry < 3; retry++) await expect(store.applyRewards(0, records, true)).rejects.toThrow(/^BADARGS applyRewards: /);
    expect(await redis.raw.hgetall(store.key(deployment))).toEqual({});
    expect(await store.applyRewards(0, records.slice(0, 1), true)).toEqual(['applied']);
    expect(await store.read(deployment)).toEqual({ v1: { count: 1, sum: 0.5, sumSq: 0.25 } });
  });

  it('the join scripts: a batch with one hostile ttl or time, or hostile limits, stores none of its records', async () => {
    const record = fc.record({ ttl: fc.oneof(fc.constant('60'), hostileNumber), now: fc.oneof(fc.constant('1700000000000'), hostileNumber) });
    const limits = fc.oneof(
      fc.constant(LIMITS),
      hostileNumber.map((n) => `${n} 1000 1000 1000`),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(record, { minLength: 1, maxLength: 3 }), fc.boolean(), limits, async (records, feedback, limit) => {
        const bucket = redis.client.deploymentKey(`join-${++run}`, '');
        const [seen, ready, held, prefix] = [`${bucket}seen`, `${bucket}ready`, `${bucket}held`, `${bucket}r:`];
        await redis.raw.set(ready, '1');
        const keys = [seen, held, ...records.map((_, i) => `${prefix}req-${i}`)];
        const args = records.flatMap((r, i) =>
          feedback ? ['', '{"label":1}', r.ttl, r.now, `req-${i}`, `t${i}`] : [`v1:served`, 'd', '{}', r.ttl, r.now, `req-${i}`, `t${i}`],
        );
        const before = await snapshot(redis, keys);
        const call = () =>
          feedback
            ? scripts().joinFeedback(seen, ready, held, '0', prefix, limit, ...args)
            : scripts().joinPredictions(seen, ready, held, '0', prefix, limit, ...args);
        const result = await attempt(call);
        if (!result.ok) {
          expect(result.error).toMatch(/^BADARGS join(Feedback|Predictions): /);
          expect(await snapshot(redis, keys)).toEqual(before);
        } else {
          expect(limit).toMatch(/^[1-9]\d* [1-9]\d* [1-9]\d* [1-9]\d*$/);
          for (const r of records) expect([Number.isInteger(Number(r.ttl)) && Number(r.ttl) > 0, Number.isFinite(Number(r.now))]).toEqual([true, true]);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('addReport, replaceReport, reconcileArms, restoreClaim: a call with a hostile argument writes nothing, or all', async () => {
    const calls: { name: string; call: (value: string, keys: string[]) => Promise<unknown> }[] = [
      // The first message is valid, the second carries the hostile amount: neither may be added alone.
      {
        name: 'addReport',
        call: (value, [report, , , , , , , units]) =>
          scripts().addReport(
            report,
            units,
            'pos',
            '9',
            1000,
            '5',
            '1',
            'served:v1@1',
            '0',
            '1',
            '1',
            'u1',
            'v1:served:units@1',
            '6',
            '0',
            '1',
            'ipw@1',
            value,
            '0',
          ),
      },
      {
        name: 'replaceReport',
        call: (value, [report, , , , , , , units]) => scripts().replaceReport(report, units, 2, 'served:v1@1', '1', 'ipw@1', value, 'odd'),
      },
      {
        name: 'reconcileArms',
        call: (value, [, stats, arms, positions, , , units]) => scripts().reconcileArms(stats, arms, positions, units, 0, asTyped(value), ''),
      },
      {
        name: 'reconcileArms',
        call: (value, [, stats, arms, positions, , , units]) => scripts().reconcileArms(stats, arms, positions, units, 2, 60, 'a', 'v2', value),
      },
      {
        name: 'restoreClaim',
        call: (value, [, , , , seen, request, , , held]) => scripts().restoreClaim(seen, request, held, 'v1:served', asTyped(value), 1700000000000, 'r1'),
      },
      {
        name: 'restoreClaim',
        call: (value, [, , , , seen, request, , , held]) => scripts().restoreClaim(seen, request, held, 'v1:served', 60, asTyped(value), 'r1'),
      },
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...calls), hostileNumber, async ({ name, call }, value) => {
        const deployment = `misc-${++run}`;
        const keys = [
          redis.client.deploymentKey(deployment, 'report'),
          store.key(deployment),
          store.armsKey(deployment),
          store.positionsKey(deployment),
          redis.client.deploymentKey(deployment, 'seen'),
          redis.client.deploymentKey(deployment, 'r:r1'),
          store.unitStateKey(deployment),
          redis.client.deploymentKey(deployment, 'units'),
          redis.client.deploymentKey(deployment, 'held'),
        ];
        await redis.raw.hset(keys[0], 'served:v1@1', '4', 'pos', '0');
        await redis.raw.hset(keys[1], 'v1:count', '1');
        await redis.raw.hset(keys[2], 'v1', '1', '_v', '1');
        const before = await snapshot(redis, keys);
        const outcome = await attempt(() => call(value, keys));
        if (!outcome.ok)
          expect({ name, value, error: outcome.error, after: await snapshot(redis, keys) }).toEqual({
            name,
            value,
            error: expect.stringMatching(/^BADARGS /),
            after: before,
          });
      }),
      { numRuns: RUNS * 2 },
    );
  });
});
