import fc from 'fast-check';
import { predictionEvent } from '@switchyard/contracts';
import {
  type ArmSet,
  type HeldGeneration,
  heldGeneration,
  JoinLedger,
  joinBucket,
  type LedgerReward,
  type PairClock,
  pairField,
  type ReportedBatch,
  ReportLedger,
  RewardLedger,
} from '@switchyard/strategies';
import {
  ArmStatsStore,
  decodePrediction,
  encodePrediction,
  encodeStoredFeedback,
  JoinStateStore,
  parseStats,
  parseUnitSums,
  ReportStore,
} from '@switchyard/store';
import { describeOnEachRedis } from './support/redis';

/**
 * The Lua scripts against their TypeScript references in libs/strategies: the same random
 * sequences of calls through both, on a single Redis and on the Redis Cluster, must answer
 * the same and leave the same state. Rewards are multiples of 0.5, so every sum is exact
 * in Redis's HINCRBYFLOAT as in a double.
 */
const RUNS = 100;
const VARIANTS = ['v1', 'v2', 'v3'];
const HOLD_MS = 1000;

type RewardCall =
  | { kind: 'apply'; partition: number; start: boolean; now: number; rewards: LedgerReward[] }
  | { kind: 'reconcile'; version: number; incarnation: string; arms: Record<string, number> }
  | { kind: 'forget' };

const rewardCall: fc.Arbitrary<RewardCall> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('apply' as const),
      partition: fc.integer({ min: 0, max: 2 }),
      start: fc.boolean(),
      // The pairing clock: periods of HOLD_MS, in any order (a clock set back included).
      now: fc.integer({ min: 0, max: 4 * HOLD_MS }),
      rewards: fc.array(
        fc
          .record({
            offset: fc.integer({ min: 0, max: 30 }).map(String),
            variant: fc.constantFrom(...VARIANTS),
            role: fc.constantFrom('served' as const, 'shadow' as const),
            specVersion: fc.integer({ min: 1, max: 6 }),
            reward: fc.integer({ min: -4, max: 4 }).map((n) => n / 2),
            // The cohort cell (two slots of the version) and the unit its unit sums cluster by.
            slot: fc.integer({ min: 0, max: 1 }),
            unitKey: fc.option(fc.constantFrom('u1', 'u2', 'u:3'), { nil: undefined }),
            requestId: fc.option(fc.constantFrom('r1', 'r2', 'r:3'), { nil: undefined }),
            ridge: fc.option(
              fc.record({
                model: fc.constantFrom('0badf00d.0', '0badf00d.1'),
                values: fc.array(
                  fc.integer({ min: -4, max: 4 }).map((n) => n / 2),
                  { minLength: 1, maxLength: 3 },
                ),
              }),
              { nil: undefined },
            ),
          })
          .map(({ slot, unitKey, requestId, ridge, ...r }) => ({
            ...r,
            ...(requestId !== undefined && { requestId }),
            cohort: `${r.role === 'served' ? r.variant : `${r.variant}:shadow`}:@${r.specVersion}:${slot * 600}-${slot * 600 + 600}`,
            ...(unitKey !== undefined && { unitKey }),
            ...(ridge !== undefined && { ridge }),
          })),
        { maxLength: 5 },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('reconcile' as const),
      version: fc.integer({ min: 1, max: 6 }),
      incarnation: fc.constantFrom('a', 'b'),
      arms: fc.dictionary(fc.constantFrom(...VARIANTS), fc.integer({ min: 1, max: 6 }), { maxKeys: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('forget' as const) }) },
);

/** The held rewards the two generations answer for at `clock` (a generation of another period holds nothing), field → text. */
async function heldOf(raw: { hgetall(key: string): Promise<Record<string, string>> }, keys: string[], clock: PairClock): Promise<Record<string, string>> {
  const epoch = Math.floor(clock.now / clock.holdMs);
  const hashes = await Promise.all(keys.map((key) => raw.hgetall(key)));
  const live = hashes.filter(({ _epoch }, slot) => _epoch !== undefined && Number(_epoch) === (slot === epoch % 2 ? epoch : epoch - 1));
  return Object.fromEntries(live.flatMap(({ _epoch, ...fields }) => Object.entries(fields)));
}

/** The reference's held rewards as apply-rewards.lua writes them: `@<served slot>=<served>` or `<shadow>=<r> ...`. */
function heldText(generations: HeldGeneration[]): Record<string, string> {
  return Object.fromEntries(
    generations.flatMap((g) =>
      [...g.rewards].map(([field, { served, shadows }]) => [
        field,
        served !== undefined
          ? `@${served.slot}=${served.reward}`
          : Object.entries(shadows)
              .map(([shadow, r]) => `${shadow}=${r}`)
              .join(' '),
      ]),
    ),
  );
}

/** The arms hash as the reference holds it (`_v`, `_born`, `_deleted`: see ArmStatsStore). */
function armSetOf(hash: Record<string, string>): ArmSet | undefined {
  if (!Object.keys(hash).length) return undefined;
  if (hash._deleted) return { deleted: true };
  const { _v, _born, ...since } = hash;
  return { version: Number(_v), incarnation: _born, since: Object.fromEntries(Object.entries(since).map(([variant, v]) => [variant, Number(v)])) };
}

/** The ridge hash (`<variant>:<model>:<i>`) as the reference holds it: `<variant>:<model>` → sums by i. */
function ridgeSums(hash: Record<string, string>): Record<string, number[]> {
  const sums: Record<string, number[]> = {};
  for (const [field, value] of Object.entries(hash)) {
    const cut = field.lastIndexOf(':');
    (sums[field.slice(0, cut)] ??= [])[Number(field.slice(cut + 1))] = Number(value);
  }
  return sums;
}

describeOnEachRedis('reward scripts against RewardLedger', (redis) => {
  const store = new ArmStatsStore(redis.client);
  let run = 0;

  it('answer and leave the same state for any sequence of applies, reconciles and deletions', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(rewardCall, { minLength: 1, maxLength: 10 }), async (calls) => {
        const deployment = `ledger-${++run}`;
        const sut = new RewardLedger();
        let clock: PairClock | undefined;
        for (const call of calls) {
          if (call.kind === 'apply') {
            const records = call.rewards.map((r) => ({ ...r, deployment }));
            clock = { now: call.now, holdMs: HOLD_MS };
            expect({ call, outcomes: await store.applyRewards(call.partition, records, call.start, clock) }).toEqual({
              call,
              outcomes: sut.apply(call.partition, call.rewards, call.start, clock),
            });
          } else if (call.kind === 'reconcile') {
            expect({ call, removed: await store.reconcileArms(deployment, call.version, call.arms, call.incarnation, 3600) }).toEqual({
              call,
              removed: sut.reconcile(call.version, call.incarnation, call.arms),
            });
          } else {
            await store.forget(deployment, 3600);
            sut.forget();
          }
        }
        const [stats, arms, positions, cohorts, unitState, ridge, ridgeArms, ridgePositions] = await Promise.all(
          [
            store.key(deployment),
            store.armsKey(deployment),
            store.positionsKey(deployment),
            store.cohortKeys(deployment)[0],
            store.unitStateKey(deployment),
            ...store.ridgeKeys(deployment),
          ].map((key) => redis.raw.hgetall(key)),
        );
        expect({ stats: parseStats(stats), arms: armSetOf(arms), positions, ridge: ridgeSums(ridge), ridgeArms: armSetOf(ridgeArms), ridgePositions }).toEqual({
          stats: sut.stats,
          arms: sut.arms,
          positions: Object.fromEntries(sut.positions),
          ridge: { ...sut.ridge },
          ridgeArms: sut.arms,
          ridgePositions: Object.fromEntries(sut.ridgePositions),
        });
        // The paired cells live in the cohort hash beside the cells, keyed alike (`<shadow>:paired:@<key>:<from>-<before>`).
        const cells = parseStats(cohorts);
        const paired = Object.fromEntries(Object.entries(cells).filter(([base]) => base.includes(':paired:@')));
        for (const base of Object.keys(paired)) delete cells[base];
        expect({ cohorts: cells, units: parseUnitSums(cohorts), paired }).toEqual({ cohorts: sut.cohorts, units: sut.cohortUnits, paired: { ...sut.paired } });
        if (clock) expect(await heldOf(redis.raw, store.heldKeys(deployment), clock)).toEqual(heldText(heldGeneration(sut.held, clock)));
        const states = Object.fromEntries(Object.entries(unitState).map(([field, text]) => [field, text.split(' ').map(Number)]));
        expect(states).toEqual(Object.fromEntries([...sut.unitState].map(([field, { count, sum }]) => [field, [count, sum]])));
      }),
      { numRuns: RUNS },
    );
  });
});

/** Messages of a run, each with coordinates of its own (a pick of the same one twice is a redelivery), on two requests. */
interface JoinMessages {
  predictions: { request: number; deployment: string; variant: string; role: 'served' | 'shadow' }[];
  feedback: { request: number; scope?: string }[];
}

type JoinCall = { kind: 'predictions' | 'feedback' | 'restore' | 'compact'; picks: number[]; replay: boolean };

const DEPLOYMENTS = ['d1', 'd2'];
const joinMessages: fc.Arbitrary<JoinMessages> = fc.record({
  predictions: fc.array(
    fc.record({
      request: fc.integer({ min: 0, max: 1 }),
      deployment: fc.constantFrom(...DEPLOYMENTS),
      variant: fc.constantFrom('a', 'b'),
      role: fc.constantFrom('served' as const, 'shadow' as const),
    }),
    { minLength: 1, maxLength: 6 },
  ),
  feedback: fc.array(fc.record({ request: fc.integer({ min: 0, max: 1 }), scope: fc.option(fc.constantFrom(...DEPLOYMENTS), { nil: undefined }) }), {
    minLength: 2,
    maxLength: 4,
  }),
});
const joinCall: fc.Arbitrary<JoinCall> = fc.record({
  kind: fc.constantFrom('predictions' as const, 'feedback' as const, 'feedback' as const, 'predictions' as const, 'restore' as const, 'compact' as const),
  picks: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
  // Mostly live: a replay happens only while the join state is rebuilt.
  replay: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
});

/** The request hash a JoinLedger stands for, as JoinStateStore lays it out. */
function hashOf(ledger: JoinLedger): Record<string, string> {
  const hash: Record<string, string> = {};
  for (const [pair, { token, json }] of ledger.predictions) hash[`p:${pair}`] = `${token}|${json}`;
  for (const [scope, json] of ledger.feedback) hash[scope === undefined ? 'f' : `f:${scope}`] = json;
  for (const [pair, token] of ledger.claims) hash[`d:${pair}`] = token;
  return hash;
}

const byText = (a: object, b: object) => JSON.stringify(a).localeCompare(JSON.stringify(b));

describeOnEachRedis('join scripts against JoinLedger', (redis) => {
  const store = new JoinStateStore(redis.client);
  const timing = () => ({ ttlSeconds: 3600, nowMs: 1 });
  let run = 0;

  beforeAll(() => store.setReady(true));

  it('answer and leave the same state for any sequence of predictions, feedback and restored claims', async () => {
    await fc.assert(
      fc.asyncProperty(joinMessages, fc.array(joinCall, { minLength: 1, maxLength: 8 }), async (messages, calls) => {
        const requestIds = [`r${++run}-0`, `r${run}-1`];
        const ledgers = requestIds.map(() => new JoinLedger());
        const predictions = messages.predictions.map((p, i) => ({
          requestId: requestIds[p.request],
          deployment: p.deployment,
          pair: pairField(p),
          // Distinct per message: the store answers it decoded.
          prediction: predictionEvent(
            { ...p, requestId: requestIds[p.request], strategy: 'canary', specVersion: 1, probability: 1, latencyMs: i },
            new Date(0),
          ),
          token: `predictions:0:${i}`,
        }));
        const feedback = messages.feedback.map((f, i) => ({
          requestId: requestIds[f.request],
          deployment: f.scope,
          feedback: { feedbackAt: new Date(0).toISOString(), reward: i },
          token: `feedback:0:${i}`,
        }));
        const ledgerOf = (requestId: string) => ledgers[requestIds.indexOf(requestId)];
        const decoded = (requestId: string, token: string, joined: { pair: string; prediction: string; feedback: string }) => {
          const prediction = decodePrediction(requestId, joined.pair, joined.prediction);
          return { requestId, pair: joined.pair, token, prediction: prediction.ok ? prediction.value : prediction, feedback: JSON.parse(joined.feedback) };
        };
        for (const call of calls) {
          if (call.kind === 'predictions') {
            const records = call.picks.map((n) => predictions[n % predictions.length]);
            const expected = records.map((r) => ({
              requestId: r.requestId,
              token: r.token,
              ...ledgerOf(r.requestId).recordPrediction({ ...r, json: encodePrediction(r.prediction) }, call.replay),
            }));
            expect({ call, stored: await store.recordPredictions(records, timing, call.replay) }).toEqual({
              call,
              stored: {
                first: expected.map((e) => e.first),
                candidates: expected.flatMap((e) => (e.joined ? [decoded(e.requestId, e.token, e.joined)] : [])),
                refused: new Map(),
              },
            });
          } else if (call.kind === 'feedback') {
            const records = call.picks.map((n) => feedback[n % feedback.length]);
            const expected = records.flatMap((r) =>
              ledgerOf(r.requestId)
                .recordFeedback({ scope: r.deployment, json: encodeStoredFeedback(r.feedback), token: r.token }, call.replay)
                .map((joined) => decoded(r.requestId, r.token, joined)),
            );
            expect({ call, joined: (await store.recordFeedback(records, timing, call.replay)).candidates.sort(byText) }).toEqual({
              call,
              joined: expected.sort(byText),
            });
          } else if (call.kind === 'compact') {
            // A pair compacted for the token of a prediction or of a feedback: only the one that claimed it counts.
            const compacted = call.picks.map((n) => {
              const p = predictions[n % predictions.length];
              return { requestId: p.requestId, pair: p.pair, token: n % 2 ? p.token : feedback[n % feedback.length].token };
            });
            await store.compactPairs(compacted);
            for (const c of compacted) ledgerOf(c.requestId).compact(c.pair, c.token);
          } else {
            const claims = call.picks.map((n) => predictions[n % predictions.length]);
            await store.restoreClaims(claims, timing);
            for (const c of claims) ledgerOf(c.requestId).restoreClaim(c.pair);
          }
        }
        for (const [i, requestId] of requestIds.entries()) {
          const hash = await redis.raw.hgetall(`${redis.client.prefix}{join.${joinBucket(requestId)}}:r:${requestId}`);
          // The charges of what was pending (`c:`, lua/join-cap.lua) are the limits' business (test/join-limits.int-spec.ts), not the join's.
          const stored = Object.fromEntries(Object.entries(hash).filter(([field]) => !field.startsWith('c:')));
          expect({ requestId, stored }).toEqual({ requestId, stored: hashOf(ledgers[i]) });
        }
      }),
      { numRuns: RUNS },
    );
  });
});

const reportedBatch: fc.Arbitrary<ReportedBatch> = fc.record({
  topic: fc.constantFrom('predictions', 'shadow'),
  partition: fc.integer({ min: 0, max: 1 }),
  lastOffset: fc.integer({ min: 0, max: 20 }).map(String),
  counted: fc.array(
    fc.record({
      offset: fc.integer({ min: 0, max: 20 }).map(String),
      fields: fc.subarray(['a:served:requests', 'a:served:errors', 'b:shadow:requests', 'b:shadow:lat:3']),
      sums: fc.array(fc.tuple(fc.constantFrom('a:served:ipw@1', 'a:served:ipwSq@1'), fc.integer({ min: 0, max: 1e6 })), { maxLength: 2 }),
      // Distinct units, a few unit keys (and '' for requests without one) under two split keys: a cap of 4 per key is reached.
      units: fc.array(
        fc
          .record({ key: fc.constantFrom('1', '2.1'), member: fc.constantFrom('', 'u1', 'u2', 'u3', 'u4', 'u5'), field: fc.constantFrom('a', 'b') })
          .map((u) => ({
            ...u,
            field: `${u.field}:served:units@${u.key}`,
          })),
        { maxLength: 2 },
      ),
    }),
    { maxLength: 4 },
  ),
});

describeOnEachRedis('report script against ReportLedger', (redis) => {
  const store = new ReportStore(redis.client);
  let run = 0;

  it('leaves the same counters and positions for any sequence of batches, redelivered or not', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(reportedBatch, { minLength: 1, maxLength: 8 }), async (batches) => {
        const deployment = `report-${++run}`;
        const sut = new ReportLedger(4);
        for (const batch of batches) {
          await store.add([{ deployment, ...batch }], 4);
          sut.add(batch);
        }
        const units = await redis.raw.hgetall(store.unitsKey(deployment));
        expect(units).toEqual(Object.fromEntries([...sut.units].map(([field, n]) => [field, String(n)])));
        const positions = Object.entries(await redis.raw.hgetall(store.key(deployment))).filter(([field]) => field.startsWith('@'));
        expect({ counters: await store.read(deployment), positions: Object.fromEntries(positions.map(([field, offset]) => [field.slice(1), offset])) }).toEqual(
          {
            counters: Object.fromEntries([...sut.counters].map(([field, n]) => [field, String(n)])),
            positions: Object.fromEntries(sut.positions),
          },
        );
      }),
      { numRuns: RUNS },
    );
  });
});
