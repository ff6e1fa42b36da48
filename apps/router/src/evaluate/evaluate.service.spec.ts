import { Logger } from '@nestjs/common';
import { DeploymentSpec, EvaluateBody, EvaluateResponse } from '@switchyard/contracts';
import { KafkaClient, KafkaConnection, readTopicRange, ScanTooLarge, TopicRangeOptions, TopicRangeResult } from '@switchyard/messaging';
import { DeploymentRegistry } from '@switchyard/store';
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

function setUp(known = ['churn']) {
  const registry = { get: async (name: string) => (known.includes(name) ? ({ name } as DeploymentSpec) : null) } as unknown as DeploymentRegistry;
  const kafka = { kafka: {}, clientId: 'router', topics: { joined: 'joined' } } as unknown as KafkaClient;
  return new InlineEvaluateService(registry, kafka, Object.assign(new RouterEnv(), { EVALUATE_MAX_RECORDS: 1000, EVALUATE_MAX_BYTES: 4096 }));
}

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
