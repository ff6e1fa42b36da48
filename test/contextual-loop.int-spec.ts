import { BanditStrategySpec, JoinedEvent } from '@switchyard/contracts';
import { randomFeatures, toInferInputs } from '@switchyard/demo-models';
import { countsInArmStatistics, readRidgeHash, ridgeFromValues, ridgeIncrement, RidgeStats, seededRng } from '@switchyard/strategies';
import { banditUpdaterService } from '../apps/bandit-updater/src/bandit-updater.service-definition';
import { feedbackJoinerService } from '../apps/feedback-joiner/src/feedback-joiner.service-definition';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { routerService } from '../apps/router/src/router.service-definition';
import { groupCaughtUp, isolation } from './support/kafka';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

const SEGMENTS = ['retail', 'business'] as const;
type Segment = (typeof SEGMENTS)[number];
/** Chance of a reward of 1 per segment and variant: retail is best served by v1, business by v2. */
const RATES: Record<Segment, Record<string, number>> = {
  retail: { v1: 0.9, v2: 0.2, v3: 0.5 },
  business: { v1: 0.2, v2: 0.9, v3: 0.5 },
};
const BEST: Record<Segment, string> = { retail: 'v1', business: 'v2' };
const ROUND = 200;
const MAX_ROUNDS = 20;
const CONCURRENCY = 8;
const MIN_SHARE = 0.05;
/** The linear Thompson deployment, whose sums are also evaluated off-policy and rebuilt; and a SquareCB one beside it. */
const DEPLOYMENT = 'segments';
const SQUARECB = 'segments-squarecb';

const strategyOf = (algorithm: BanditStrategySpec['algorithm']) =>
  ({
    type: 'bandit',
    algorithm,
    minShare: MIN_SHARE,
    context: { features: [{ name: 'segment', type: 'categorical', context: 'segment', levels: [...SEGMENTS] }] },
  }) as BanditStrategySpec;
const STRATEGIES: Record<string, BanditStrategySpec> = { [DEPLOYMENT]: strategyOf('linear-thompson'), [SQUARECB]: strategyOf('squarecb') };
const strategy = STRATEGIES[DEPLOYMENT];

/**
 * The contextual bandit through the real loop, on a Redis of its own: router (draws per
 * request from the arms' models, logs the context and the propensity) → model-server →
 * predictions → joiner ← rewards → joined → updater (ridge sums in Redis, exactly once;
 * the fitted models) → router. Two segments prefer different variants; then Redis is lost
 * and the sums are rebuilt from the joined topic.
 */
describe('contextual bandit loop: each segment gets its own best variant, and its statistics survive Redis', () => {
  const ids = isolation('contextual-loop');
  const group = `updater-${ids.groupSuffix}`;
  const { kafka, topics, router, modelServer, redis, privateRedis, predictions, joined } = useStack({
    ids,
    privateRedis: true,
    services: {
      modelServer: modelServerService,
      router: [routerService, { KAFKA_INGRESS: 'false', REFRESH_INTERVAL_MS: '200' }],
      joiner: [feedbackJoinerService, { JOIN_GROUP: `joiner-${ids.groupSuffix}` }],
      updater: [banditUpdaterService, { UPDATE_GROUP: group, SNAPSHOT_INTERVAL_MS: '500' }],
    },
    redis: true,
    collect: { predictions: 'predictions', joined: 'joined' },
  });
  const rng = seededRng(11);
  /** Requests sent per deployment. */
  const sent: Record<string, number> = { [DEPLOYMENT]: 0, [SQUARECB]: 0 };
  const sentInAll = () => sent[DEPLOYMENT] + sent[SQUARECB];

  /** `count` requests to `deployment`, segments alternating, each rewarded right after its answer's round; answers the variant per segment. */
  async function round(deployment: string, count: number): Promise<Record<Segment, string[]>> {
    const served: { requestId: string; segment: Segment; variant: string }[] = [];
    const first = sent[deployment];
    sent[deployment] += count;
    let next = first;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < first + count) {
          const i = next++;
          const segment = SEGMENTS[i % 2];
          const requestId = `${deployment}-${i}`;
          const answer = await http('POST', `${router.url}/v1/deployments/${deployment}/predict`, {
            requestId,
            inputs: toInferInputs(randomFeatures(rng)),
            context: { segment },
          });
          if (answer.status !== 200) throw new Error(`predict ${i}: ${answer.status} ${JSON.stringify(answer.body)}`);
          served.push({ requestId, segment, variant: answer.body.variant });
        }
      }),
    );
    const feedback = served.map((s) => ({ requestId: s.requestId, reward: rng() < RATES[s.segment][s.variant] ? 1 : 0 }));
    const answer = await http('POST', `${router.url}/v1/feedback`, feedback);
    if (answer.status !== 202) throw new Error(`feedback: ${answer.status} ${JSON.stringify(answer.body)}`);
    return {
      retail: served.filter((s) => s.segment === 'retail').map((s) => s.variant),
      business: served.filter((s) => s.segment === 'business').map((s) => s.variant),
    };
  }

  /** The ridge sums per arm as the updater stored them. */
  async function stored(): Promise<Record<string, RidgeStats>> {
    return readRidgeHash(await redis.hgetall(`${ids.redisPrefix}{${DEPLOYMENT}}:ridge`), strategy).stats;
  }

  /** The same sums recounted from the joined topic: every served, non-fallback event once. */
  function recount(): Record<string, RidgeStats> {
    const sums: Record<string, number[]> = {};
    for (const { value } of joined.messages) {
      const event = value as JoinedEvent;
      if (event.deployment !== DEPLOYMENT || event.role !== 'served' || !countsInArmStatistics(event)) continue;
      const increment = ridgeIncrement(strategy, event)!;
      sums[event.variant] = increment.values.map((v, i) => v + (sums[event.variant]?.[i] ?? 0));
    }
    return Object.fromEntries(Object.entries(sums).map(([variant, values]) => [variant, ridgeFromValues(values, 3, 0)!]));
  }

  function same(got: Record<string, RidgeStats>, want: Record<string, RidgeStats>): boolean {
    if (Object.keys(got).sort().join() !== Object.keys(want).sort().join()) return false;
    const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));
    return Object.entries(want).every(([arm, w]) => {
      const g = got[arm];
      return g.count === w.count && close(g.rr, w.rr) && w.xr.every((v, i) => close(g.xr[i], v)) && w.xx.every((v, i) => close(g.xx[i], v));
    });
  }

  beforeAll(async () => {
    for (const [deployment, spec] of Object.entries(STRATEGIES)) {
      const put = await http('PUT', `${router.url}/v1/deployments/${deployment}`, {
        // Learning is under test, not latency: the default 1 s model deadline can pass on a loaded CI box.
        variants: [1, 2, 3].map((n) => ({ name: `v${n}`, url: modelServer.url, model: `churn-v${n}`, timeoutMs: 10000 })),
        strategy: spec,
        reward: { type: 'explicit' },
      });
      if (put.status !== 200) throw new Error(`PUT ${deployment}: ${put.status} ${JSON.stringify(put.body)}`);
    }
  });

  it.each([DEPLOYMENT, SQUARECB])("%s learns each segment's best variant, logging the context and the propensity of every draw", async (deployment) => {
    const started = Date.now();
    let shares: Record<Segment, number> | undefined;
    for (let r = 0; r < MAX_ROUNDS; r++) {
      const served = await round(deployment, ROUND);
      shares = { retail: share(served.retail, BEST.retail), business: share(served.business, BEST.business) };
      if (shares.retail >= 0.75 && shares.business >= 0.75) break;
    }
    process.stdout.write(
      `contextual loop, ${STRATEGIES[deployment].algorithm}: ${sent[deployment]} requests in ${Date.now() - started} ms; last round's best-arm share ${JSON.stringify(shares)}\n`,
    );
    expect(shares!.retail).toBeGreaterThanOrEqual(0.75);
    expect(shares!.business).toBeGreaterThanOrEqual(0.75);

    // The status shows the split per segment: each segment's best variant first.
    const view = await waitFor(async () => {
      const body = (await http('GET', `${router.url}/v1/deployments/${deployment}`)).body;
      const segments = body.segments as Record<string, Record<string, number>> | undefined;
      return segments && best(segments['segment=retail']) === 'v1' && best(segments['segment=business']) === 'v2' && body;
    });
    for (const weights of Object.values(view.segments as Record<string, Record<string, number>>)) {
      for (const weight of Object.values(weights)) expect(weight).toBeGreaterThanOrEqual(MIN_SHARE - 1e-9);
    }

    // Every prediction names its encoded context and the probability its variant was drawn with.
    const mine = () => predictions.messages.map((m) => m.value).filter((event) => event.deployment === deployment);
    const logged = await waitFor(() => mine().length >= sent[deployment] && mine());
    for (const event of logged) {
      const segment = Number(event.requestId.slice(deployment.length + 1)) % 2 === 0 ? 'retail' : 'business';
      expect(event.context).toEqual(segment === 'retail' ? [1, 1, 0] : [1, 0, 1]);
      expect(event.probability).toBeGreaterThanOrEqual(MIN_SHARE - 1e-9);
      expect(event.probability).toBeLessThanOrEqual(1);
    }
  });

  it('evaluates contextual policies off-policy on the logged contexts, and refuses one the log never gave a chance', async () => {
    await waitFor(() => joined.messages.length >= sentInAll(), { what: 'every request joined', timeoutMs: 60000 });
    const evaluate = (policy: object, deployment = DEPLOYMENT) => http('POST', `${router.url}/v1/deployments/${deployment}/evaluate`, { policy });
    // Context [1, retail, business]: serve v1 to retail and v2 to business, each's best, worth 0.9 a request.
    const bestModels = { v1: [0, 1, 0], v2: [0, 0, 1], v3: [0.5, 0, 0] };
    const best = await evaluate({ type: 'contextual', models: bestModels });
    expect(best.status).toBe(200);
    expect(best.body).toMatchObject({ rewardModel: 'context', target: { v1: expect.closeTo(0.5, 1), v2: expect.closeTo(0.5, 1), v3: 0 } });
    // Loose bands, several standard errors wide: the log is adaptive and its rewards drawn.
    for (const method of ['snips', 'dr', 'sndr'] as const) expect(Math.abs(best.body.estimators[method].estimate - 0.9)).toBeLessThan(0.15);

    // SquareCB on the same models, γ = 20. Retail scores v1 1, v2 0, v3 0.5: v2 gets 1/(3 + 20) = 1/23,
    // v3 1/(3 + 10) = 1/13, v1 the rest; worth 0.9·(1 − 1/23 − 1/13) + 0.2/23 + 0.5/13 = 0.839 (business alike).
    const squarecb = await evaluate({ type: 'contextual', models: bestModels, gamma: 20 });
    expect(squarecb.status).toBe(200);
    expect(squarecb.body.target.v3).toBeCloseTo(1 / 13, 1);
    for (const method of ['snips', 'dr', 'sndr'] as const) expect(Math.abs(squarecb.body.estimators[method].estimate - 0.839)).toBeLessThan(0.15);

    // Each deployment's own models, frozen, with its algorithm: they serve each segment its best variant most of the time.
    for (const deployment of [DEPLOYMENT, SQUARECB]) {
      const current = await evaluate({ type: 'contextual' }, deployment);
      expect(current.status).toBe(200);
      expect(current.body.estimate).toBeGreaterThan(0.6);
    }

    // v9 was never served: no weighting can tell what it would have earned for business.
    const unseen = await evaluate({ type: 'contextual', models: { ...bestModels, v2: [0, 0, 0], v9: [0, 0, 1] } });
    expect(unseen.status).toBe(422);
    expect(unseen.body.reasons).toEqual([expect.stringMatching(/^variant "v9" has target probability 0\.5\d* but was never served/)]);
  });

  it('keeps the ridge sums exactly once, and rebuilds them from the joined topic after Redis comes back empty', async () => {
    await waitFor(() => joined.messages.length >= sentInAll(), { what: 'every request joined', timeoutMs: 60000 });
    await waitFor(async () => same(await stored(), recount()), { what: 'the ridge sums to equal a recount of the joined topic', timeoutMs: 60000 });
    const before = await stored();
    await waitFor(() => groupCaughtUp(kafka, group, [topics.joined]), { what: 'the updater to commit everything' });

    // Empty when it answers; the services reconnect and write at once, so nothing is asserted on its size here.
    await privateRedis.restartEmpty();
    // Traffic goes on (the updater learns of the loss from its next batch).
    await waitFor(async () => (await http('GET', `${router.url}/v1/deployments/${DEPLOYMENT}`)).status === 200, { what: 'the registry restored' });
    await round(DEPLOYMENT, 20);
    await waitFor(() => joined.messages.length >= sentInAll(), { what: 'the new requests joined', timeoutMs: 60000 });
    const rebuilt = await waitFor(
      async () => {
        const now = await stored();
        return same(now, recount()) && now;
      },
      { what: 'the ridge sums rebuilt, equal to a recount of the whole joined topic', timeoutMs: 90000, intervalMs: 300 },
    );
    for (const [arm, stats] of Object.entries(before)) expect(rebuilt[arm].count).toBeGreaterThanOrEqual(stats.count);
    expect(Object.values(rebuilt).reduce((n, s) => n + s.count, 0)).toBe(sent[DEPLOYMENT]);
  });
});

function share(variants: string[], variant: string): number {
  return variants.filter((v) => v === variant).length / variants.length;
}

function best(weights: Record<string, number> | undefined): string | undefined {
  return weights && Object.entries(weights).sort((a, b) => b[1] - a[1])[0][0];
}
