import { Logger } from '@nestjs/common';
import { DeploymentSpec, EvaluateBody, EvaluateResponse, StrategySpec } from '@switchyard/contracts';
import { KafkaClient, KafkaConnection, readTopicRange, ScanTooLarge, TopicRangeOptions, TopicRangeResult } from '@switchyard/messaging';
import { BanditWeightsStore, DeploymentRegistry, StoredWeights } from '@switchyard/store';
import { RouterEnv } from '../router.env';
import { EvaluateService, EvaluationJob, scanAndEstimate } from './evaluate.service';

jest.mock('@switchyard/messaging', () => ({ ...jest.requireActual('@switchyard/messaging'), readTopicRange: jest.fn() }));
const readRange = readTopicRange as jest.MockedFunction<typeof readTopicRange>;

type Scanned = Parameters<TopicRangeOptions['onMessages']>[0];

const body = { policy: { type: 'single', variant: 'v1' } } as EvaluateBody;
const joined = (deployment: string, reward: number) =>
  ({ value: Buffer.from(JSON.stringify({ type: 'joined', deployment, variant: 'v1', role: 'served', probability: 1, reward })) }) as unknown as Scanned[number];
const scanned: TopicRangeResult = { ranges: [], delivered: 0, ms: 5 };

/** The range read hands `messages` to the service, once `release` (if given) resolves. */
function rangeOf(messages: Scanned, release?: Promise<void>) {
  readRange.mockImplementation(async (_kafka: unknown, opts: TopicRangeOptions) => {
    await release;
    await opts.onMessages(messages, 0);
    return scanned;
  });
}

/** The service with its scan run here rather than in a worker thread (the worker runs the same scanAndEstimate). */
class InlineEvaluateService extends EvaluateService {
  jobs: EvaluationJob[] = [];
  protected override run(job: EvaluationJob) {
    this.jobs.push(job);
    return scanAndEstimate({} as KafkaConnection, job);
  }
}

function setUp(known = ['churn'], { strategy, stored }: { strategy?: StrategySpec; stored?: StoredWeights } = {}) {
  const registry = { get: async (name: string) => (known.includes(name) ? ({ name, strategy } as DeploymentSpec) : null) } as unknown as DeploymentRegistry;
  const weights = { readMany: async (names: string[]) => new Map(stored ? names.map((name) => [name, stored]) : []) } as unknown as BanditWeightsStore;
  const kafka = { kafka: {}, clientId: 'router', topics: { joined: 'joined' } } as unknown as KafkaClient;
  return new InlineEvaluateService(registry, weights, kafka, Object.assign(new RouterEnv(), { EVALUATE_MAX_RECORDS: 1000, EVALUATE_MAX_BYTES: 4096 }));
}

/**
 * 160 decisions of a 50/50 logging policy over v1 and v2, segment i % 2 (context [1, segment]
 * unless `withContext` is false), each variant in each segment 40 times; rewarded 1 exactly
 * when v1 served segment 0 or v2 segment 1.
 */
function segmentLog(withContext = true): Scanned {
  return Array.from({ length: 160 }, (_, i) => {
    const segment = i % 2;
    const variant = Math.floor(i / 2) % 2 ? 'v2' : 'v1';
    const reward = (variant === 'v1') === (segment === 0) ? 1 : 0;
    const event = { type: 'joined', deployment: 'churn', variant, role: 'served', probability: 0.5, reward, ...(withContext && { context: [1, segment] }) };
    return { value: Buffer.from(JSON.stringify(event)) } as unknown as Scanned[number];
  });
}

/** Greedy models that serve v1 in segment 0 (xᵀθ 1 against 0) and v2 in segment 1 (0 against 1): the best policy, worth 1. */
const BEST_MODELS = { v1: [1, -1], v2: [0, 1] };

describe(EvaluateService.name, () => {
  beforeAll(() => jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined));
  beforeEach(() => readRange.mockReset());

  it("estimates the policy's value from the deployment's joined events only", async () => {
    rangeOf([...Array.from({ length: 40 }, (_, i) => joined('churn', i % 2)), joined('other', 1)]);
    const sut = setUp();

    const outcome = await sut.evaluate('churn', body);

    expect(outcome).toMatchObject({ ok: true, value: { deployment: 'churn', n: 40, estimate: 0.5, scanned: 41, scanMs: 5, target: { v1: 1 } } });
  });

  it('answers every estimator, each with its interval and ESS', async () => {
    rangeOf(Array.from({ length: 40 }, (_, i) => joined('churn', i % 2)));
    const sut = setUp();

    const outcome = await sut.evaluate('churn', body);

    // On-policy (every weight 1), 20 of 40 rewarded. No context: the reward model is each
    // variant's ridge mean, cross-fitted over 5 folds of 8 (4 rewarded each), so every
    // sample's q̂ = 16 / (32 + λ) = 16/33, which is DM; DR and SNDR correct it back to 0.5.
    const { estimators } = (outcome as { value: EvaluateResponse }).value;
    expect(Object.keys(estimators).sort()).toEqual(['dm', 'dr', 'ips', 'sndr', 'snips']);
    expect((outcome as { value: EvaluateResponse }).value.rewardModel).toBe('variant-means');
    expect(estimators.dm.estimate).toBeCloseTo(16 / 33, 12);
    for (const method of ['snips', 'ips', 'dr', 'sndr'] as const) expect(estimators[method].estimate).toBeCloseTo(0.5, 12);
    for (const answer of Object.values(estimators)) {
      expect(answer.ess).toBeCloseTo(40, 9);
      expect(answer.low).toBeLessThan(answer.estimate);
      expect(answer.high).toBeGreaterThan(answer.estimate);
    }
  });

  it("clusters every estimator's interval by the events' unitKey", async () => {
    // 10 units of 4 events, each unit rewarded alike: clustered, each unit is one observation, and every interval widens.
    const events = (withUnits: boolean) =>
      Array.from({ length: 40 }, (_, i) => {
        const event = {
          type: 'joined',
          deployment: 'churn',
          variant: 'v1',
          role: 'served',
          probability: 1,
          reward: Math.floor(i / 4) % 2,
          ...(withUnits && { unitKey: `u${Math.floor(i / 4)}` }),
        };
        return { value: Buffer.from(JSON.stringify(event)) } as unknown as Scanned[number];
      });
    const estimatorsOf = async (withUnits: boolean) => {
      rangeOf(events(withUnits));
      return ((await setUp().evaluate('churn', body)) as { value: EvaluateResponse }).value.estimators;
    };
    const [plain, clustered] = [await estimatorsOf(false), await estimatorsOf(true)];
    for (const method of ['snips', 'ips', 'dm', 'dr', 'sndr'] as const) {
      expect(clustered[method].estimate).toBeCloseTo(plain[method].estimate, 12);
      expect(clustered[method].high - clustered[method].low).toBeGreaterThan(1.5 * (plain[method].high - plain[method].low));
    }
  });

  it("fits DM's reward model on the logged contexts when every event carries one", async () => {
    // 40 on-policy decisions, segment i % 2 (context [1, segment]), rewarded 1 exactly in segment 1.
    rangeOf(
      Array.from({ length: 40 }, (_, i) => {
        const event = { type: 'joined', deployment: 'churn', variant: 'v1', role: 'served', probability: 1, reward: i % 2, context: [1, i % 2] };
        return { value: Buffer.from(JSON.stringify(event)) } as unknown as Scanned[number];
      }),
    );
    const sut = setUp();

    const { value } = (await sut.evaluate('churn', body)) as { value: EvaluateResponse };

    // Each of the 5 interleaved folds leaves out 4 samples of each segment, so every fit sees
    // 16 of each: A = S + λI = [[33, 16], [16, 17]], b = [16, 16], θ̂ = A⁻¹b = [16, 272]/305.
    // q̂ is 16/305 in segment 0 and 288/305 in segment 1: DM = 152/305 (the means gave 16/33).
    expect(value.rewardModel).toBe('context');
    expect(value.estimators.dm.estimate).toBeCloseTo(152 / 305, 12);
    expect(value.estimators.dr.estimate).toBeCloseTo(0.5, 12);
  });

  it('evaluates a contextual policy given by its models on the contexts the events logged', async () => {
    rangeOf(segmentLog());
    const sut = setUp();

    const outcome = await sut.evaluate('churn', { policy: { type: 'contextual', models: BEST_MODELS } } as EvaluateBody);

    // The policy's choice was logged in 80 of 160 decisions (w = 1/0.5 = 2), each rewarded;
    // the other 80 weigh 0. IPS = 80·2/160 = 1, SNIPS = 160/160 = 1, ESS = 160²/(80·4) = 80.
    const { value } = outcome as { value: EvaluateResponse };
    expect(value).toMatchObject({ n: 160, estimate: 1, ess: 80, meanWeight: 1, target: { v1: 0.5, v2: 0.5 }, rewardModel: 'context' });
    expect(value.estimators.ips.estimate).toBeCloseTo(1, 12);
  });

  it("evaluates the deployment's current models, frozen, with its algorithm and floor", async () => {
    rangeOf(segmentLog());
    const arm = (name: string, theta: number[]) => ({ name, theta, cholesky: [1, 0, 0, 1], rss: 0, weight: 0, noiseSd: 0 });
    const stored = { policy: { fingerprint: 'abcd0123', dimension: 2, arms: [arm('v1', BEST_MODELS.v1), arm('v2', BEST_MODELS.v2)] } } as StoredWeights;
    const strategy = { type: 'bandit', algorithm: 'linucb', minShare: 0.05 } as StrategySpec;
    const sut = setUp(['churn'], { strategy, stored });

    const { value } = (await sut.evaluate('churn', { policy: { type: 'contextual' } } as EvaluateBody)) as { value: EvaluateResponse };

    // No noise, so no exploration: LinUCB serves the best arm, floored at 5 %: w = 0.95/0.5 on the
    // 80 rewarded decisions and 0.05/0.5 on the others. SNIPS = 80·1.9 / (80·1.9 + 80·0.1) = 0.95.
    expect(value.estimate).toBeCloseTo(0.95, 12);
    expect(value.target).toEqual({ v1: 0.5, v2: 0.5 });
  });

  it('refuses a contextual policy where the log never gave its choices a chance, or logged no context', async () => {
    rangeOf(segmentLog());
    const sut = setUp();
    const v3 = { policy: { type: 'contextual', models: { v1: [1, -1], v3: [0, 1] } } } as EvaluateBody;
    expect(await sut.evaluate('churn', v3)).toMatchObject({
      ok: false,
      error: 'cannot-evaluate',
      reasons: ['variant "v3" has target probability 0.5 but was never served by the logged policy in the window'],
    });

    rangeOf(segmentLog(false));
    expect(await sut.evaluate('churn', { policy: { type: 'contextual', models: BEST_MODELS } } as EvaluateBody)).toMatchObject({
      ok: false,
      error: 'cannot-evaluate',
      reasons: ["160 decisions of the window logged no context of the policy's 2 numbers", 'no joined, served traffic was logged in the window'],
      n: 0,
    });
  });

  it('refuses the current models of a deployment that is not a contextual bandit, or has none yet, before any scan', async () => {
    const body = { policy: { type: 'contextual' } } as EvaluateBody;
    expect(await setUp(['churn'], { strategy: { type: 'single', variant: 'v1' } }).evaluate('churn', body)).toMatchObject({
      reasons: ['deployment "churn" is not a contextual bandit: give the policy\'s models (policy.models)'],
    });
    const strategy = { type: 'bandit', algorithm: 'linear-thompson' } as StrategySpec;
    expect(await setUp(['churn'], { strategy }).evaluate('churn', body)).toMatchObject({
      reasons: ['deployment "churn" has no fitted models yet: its bandit updater has not stored any'],
    });
    expect(readRange).not.toHaveBeenCalled();
  });

  it('fails with not-found for an unknown deployment, before any scan', async () => {
    const sut = setUp();

    expect(await sut.evaluate('nope', body)).toEqual({ ok: false, error: 'not-found', message: 'deployment "nope" does not exist' });
    expect(readRange).not.toHaveBeenCalled();
  });

  it('fails with cannot-evaluate, the reasons and the sample count, when the window holds too little', async () => {
    rangeOf([joined('churn', 1)]);
    const sut = setUp();

    expect(await sut.evaluate('churn', body)).toEqual({
      ok: false,
      error: 'cannot-evaluate',
      message: 'cannot evaluate this policy: effective sample size 1 is below 30: the logged traffic says too little about this policy',
      reasons: ['effective sample size 1 is below 30: the logged traffic says too little about this policy'],
      n: 1,
    });
  });

  it('scans within EVALUATE_MAX_RECORDS and EVALUATE_MAX_BYTES, and asks to narrow a window past them', async () => {
    readRange.mockRejectedValue(new ScanTooLarge('joined holds 5000 records in the range; at most 1000 are read'));
    const sut = setUp();

    const outcome = await sut.evaluate('churn', body);

    expect(sut.jobs.map(({ topic, maxRecords, maxBytes }) => ({ topic, maxRecords, maxBytes }))).toEqual([
      { topic: 'joined', maxRecords: 1000, maxBytes: 4096 },
    ]);
    expect(readRange.mock.calls[0][1]).toMatchObject({ maxMessages: 1000, maxBytes: 4096 });
    expect(outcome).toMatchObject({
      ok: false,
      error: 'cannot-evaluate',
      message:
        'cannot evaluate this policy: joined holds 5000 records in the range; at most 1000 are read (EVALUATE_MAX_RECORDS, EVALUATE_MAX_BYTES): narrow the window with since and until',
    });
  });

  it('fails with busy while another evaluation scans, and scans again once it is done', async () => {
    let release!: () => void;
    rangeOf(
      Array.from({ length: 40 }, () => joined('churn', 1)),
      new Promise<void>((resolve) => (release = resolve)),
    );
    const sut = setUp();

    const first = sut.evaluate('churn', body);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await sut.evaluate('churn', body)).toEqual({ ok: false, error: 'busy', message: 'an evaluation is already running on this router; retry later' });
    release();
    expect(await first).toMatchObject({ ok: true });
    expect(await sut.evaluate('churn', body)).toMatchObject({ ok: true });
  });
});
