import { Logger } from '@nestjs/common';
import { DeploymentSpec, MAX_EVENT_BYTES, PredictionEvent } from '@switchyard/contracts';
import { KafkaClient } from '@switchyard/messaging';
import { ModelAnswer, ModelClient, ModelError, UrlAllowlist } from '@switchyard/model-client';
import { DeploymentCache } from '../deployments/deployment.cache';
import { RouterEnv } from '../router.env';
import { ArmWeights, ServedWeights } from './arm-weights';
import { addRidge, fitContextualPolicy, policyModels, ridgeObservation } from '@switchyard/strategies';
import { MAX_MIRRORED_BINARY_BYTES, PredictService } from './predict.service';
import { RequestIds } from './request-ids';

const variants = [
  { name: 'v1', url: 'http://127.0.0.1:9000', model: 'm1', protocol: 'v2', timeoutMs: 100, retries: 0 },
  { name: 'v2', url: 'http://127.0.0.1:9000', model: 'm2', protocol: 'v2', timeoutMs: 100, retries: 0 },
];
const single = { name: 'churn', version: 3, variants, reward: { type: 'match' }, strategy: { type: 'single', variant: 'v1' } } as unknown as DeploymentSpec;
const canary = {
  name: 'churn',
  version: 4,
  variants,
  reward: { type: 'match' },
  strategy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 100 },
} as unknown as DeploymentSpec;
const answer = (outputs: unknown): ModelAnswer => ({ outputs, latencyMs: 2.5, attempts: 1 });

function setUp(
  spec: DeploymentSpec | undefined,
  infer: (variant: string) => Promise<ModelAnswer>,
  publishMode: RouterEnv['PUBLISH_MODE'] = 'durable',
  stored?: ServedWeights,
) {
  const called: string[] = [];
  const published: { topic: string; key: string; event: PredictionEvent }[] = [];
  const taken = new Set<string>();
  let publishFails = false;
  const kafka = {
    topics: { predictions: 'predictions', shadowRequests: 'shadow-requests' },
    publish: async (topic: string, messages: { key: string; value: string }[]) => {
      if (publishFails) throw new Error('broker down');
      for (const { key, value } of messages) published.push({ topic, key, event: JSON.parse(value) as PredictionEvent });
    },
  } as unknown as KafkaClient;
  const sut = new PredictService(
    { get: (name: string) => (name === spec?.name ? spec : undefined) } as unknown as DeploymentCache,
    { get: () => stored } as unknown as ArmWeights,
    { infer: (variant: { name: string }) => (called.push(variant.name), infer(variant.name)) } as unknown as ModelClient,
    kafka,
    {
      claim: async (deployment: string, id: string) => !taken.has(`${deployment}/${id}`) && !!taken.add(`${deployment}/${id}`),
      release: async (deployment: string, id: string) => void taken.delete(`${deployment}/${id}`),
    } as unknown as RequestIds,
    new UrlAllowlist(''),
    { PUBLISH_MODE: publishMode } as RouterEnv,
  );
  return { sut, published, taken, called, failPublishing: () => (publishFails = true) };
}

describe(PredictService.name, () => {
  beforeAll(() => jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined));

  describe('a contextual bandit', () => {
    const strategy = {
      type: 'bandit',
      algorithm: 'linucb',
      minShare: 0.1,
      context: { features: [{ name: 'seg', type: 'categorical', context: 'seg', levels: ['y'] }] },
    };
    const spec = { name: 'churn', version: 5, variants, reward: { type: 'match' }, strategy } as unknown as DeploymentSpec;
    // v1 rewarded outside segment y, v2 inside it (x = [1, seg is y]).
    const stats = { v1: addRidge(ridgeObservation([1, 0], 1), ridgeObservation([1, 1], 0)), v2: ridgeObservation([1, 1], 1) };
    const policy = fitContextualPolicy(strategy as never, ['v1', 'v2'], stats, 'binary', 0);
    const stored: ServedWeights = { weights: { v1: 0.5, v2: 0.5 }, version: 7, specVersion: 5, computedAt: '', policy, models: policyModels(policy) };

    it("draws by the request's context and logs it with the propensity of the variant drawn", async () => {
      const { sut, published } = setUp(spec, async () => answer([1]), 'durable', stored);
      for (let i = 0; i < 40; i++) await sut.predict('churn', { inputs: [0], requestId: `r-${i}`, context: { seg: i % 2 ? 'y' : 'n' } });
      for (const { event } of published) {
        const inY = Number(event.requestId.slice(2)) % 2 === 1;
        expect(event.context).toEqual(inY ? [1, 1] : [1, 0]);
        const favoured = inY ? 'v2' : 'v1';
        expect(event.probability).toBeCloseTo(event.variant === favoured ? 0.9 : 0.1, 12);
        expect(event.weightsVersion).toBe(7);
      }
      // With shares of 0.9, both segments see their favoured variant most of the time.
      const favouredShare = published.filter(({ event }) => event.variant === (Number(event.requestId.slice(2)) % 2 ? 'v2' : 'v1')).length / published.length;
      expect(favouredShare).toBeGreaterThan(0.6);
    });

    it('logs the context before any model is stored, drawing by the stored weights', async () => {
      const { sut, published } = setUp(spec, async () => answer([1]), 'durable', { ...stored, policy: undefined, models: undefined });
      await sut.predict('churn', { inputs: [0], requestId: 'r-1', context: { seg: 'y' } });
      expect(published[0].event).toMatchObject({ context: [1, 1], probability: 0.5 });
    });
  });

  it("answers with the chosen variant's outputs and records the prediction", async () => {
    const { sut, published } = setUp(single, async () => answer([1]));

    const outcome = await sut.predict('churn', { inputs: [0], requestId: 'r-1', unitKey: 'u-1' });

    expect(outcome).toEqual({ ok: true, value: { requestId: 'r-1', deployment: 'churn', variant: 'v1', outputs: [1] } });
    expect(published).toEqual([
      {
        topic: 'predictions',
        key: 'r-1',
        event: expect.objectContaining({
          type: 'prediction',
          variant: 'v1',
          role: 'served',
          strategy: 'single',
          specVersion: 3,
          probability: 1,
          unitKey: 'u-1',
          latencyMs: 2.5,
        }),
      },
    ]);
  });

  it('fails with not-found for a deployment the cache does not hold, and records nothing', async () => {
    const { sut, published } = setUp(single, async () => answer([1]));

    expect(await sut.predict('other', { inputs: [0] })).toEqual({ ok: false, error: 'not-found', message: 'deployment "other" does not exist' });
    expect(published).toEqual([]);
  });

  it('fails with model-failed when the model is down, and records the error', async () => {
    const { sut, published } = setUp(single, async () => {
      throw new ModelError('unavailable', 'connection refused');
    });

    const outcome = await sut.predict('churn', { inputs: [0], requestId: 'r-2' });

    expect(outcome).toEqual({ ok: false, error: 'model-failed', message: 'variant "v1" failed: connection refused' });
    expect(published[0].event).toMatchObject({ variant: 'v1', error: 'unavailable: connection refused', latencyMs: 0 });
  });

  it('fails with model-failed, as unavailable, when the call throws something other than a ModelError', async () => {
    const { sut, published } = setUp(single, async () => {
      throw new Error('socket hang up');
    });

    expect(await sut.predict('churn', { inputs: [0] })).toMatchObject({ ok: false, error: 'model-failed', message: 'variant "v1" failed: socket hang up' });
    expect(published[0].event.error).toBe('unavailable: socket hang up');
  });

  it("fails with the client's 4xx, the model's reason and status, when the model refuses the inputs, and records nothing", async () => {
    const { sut, published } = setUp(single, async () => {
      throw new ModelError('rejected', 'model rejected the request (400)', 400, 'shape mismatch');
    });

    expect(await sut.predict('churn', { inputs: [0] })).toEqual({
      ok: false,
      error: 'input-rejected',
      status: 400,
      message: 'variant "v1" rejected the inputs (model rejected the request (400)): shape mismatch',
    });
    expect(published).toEqual([]);
  });

  it("answers a 4xx other than 400 and 413 with 422: a model's 404 is not the client's", async () => {
    const { sut } = setUp(single, async () => {
      throw new ModelError('rejected', 'model rejected the request (404)', 404);
    });

    expect(await sut.predict('churn', { inputs: [0] })).toMatchObject({ ok: false, error: 'input-rejected', status: 422 });
  });

  it.each([
    ['timeout', new ModelError('timeout', 'too slow')],
    ['5xx', new ModelError('server-error', 'model answered 500', 500)],
    ['4xx', new ModelError('rejected', 'model rejected the request (400)', 400)],
    ['404: a mistyped model', new ModelError('rejected', 'model rejected the request (404)', 404)],
    ['unreadable answer', new ModelError('bad-response', 'model answered with invalid JSON')],
  ])('answers from the primary when the canary fails (%s), recording which variant the strategy chose', async (_, failure) => {
    const { sut, published } = setUp(canary, async (variant) => {
      if (variant === 'v2') throw failure;
      return answer([7]);
    });

    const outcome = await sut.predict('churn', { inputs: [0], requestId: 'r-3' });

    expect(outcome).toEqual({ ok: true, value: { requestId: 'r-3', deployment: 'churn', variant: 'v1', outputs: [7] } });
    expect(published[0].event).toMatchObject({ variant: 'v1', fallbackFrom: 'v2', probability: 1 });
  });

  it("counts nothing against the canary when the primary failed too: the event is the primary's failure", async () => {
    const { sut, published } = setUp(canary, async (variant) => {
      throw new ModelError('server-error', `${variant} answered 500`, 500);
    });

    expect(await sut.predict('churn', { inputs: [0], requestId: 'r-5' })).toEqual({
      ok: false,
      error: 'model-failed',
      message: 'variant "v1" failed: v1 answered 500',
    });
    expect(published).toHaveLength(1);
    expect(published[0].event).toMatchObject({ variant: 'v1', error: 'server-error: v1 answered 500' });
    expect(published[0].event.fallbackFrom).toBeUndefined();
  });

  it("answers inputs that the canary and the primary both reject as the client's 4xx, and records nothing", async () => {
    const { sut, published } = setUp(canary, async (variant) => {
      throw new ModelError('rejected', 'model rejected the request (422)', 422, `${variant}: bad shape`);
    });

    expect(await sut.predict('churn', { inputs: [0], requestId: 'r-6' })).toEqual({
      ok: false,
      error: 'input-rejected',
      status: 422,
      message: 'variant "v1" rejected the inputs (model rejected the request (422)): v1: bad shape',
    });
    expect(published).toEqual([]);
  });

  it('refuses a client request id used before for the deployment, and records nothing for it; generated and Kafka-redelivered ids are not checked', async () => {
    const { sut, published, taken } = setUp(single, async () => answer([1]));

    expect(await sut.predict('churn', { inputs: [0], requestId: 'r-7' })).toMatchObject({ ok: true });
    expect(await sut.predict('churn', { inputs: [0], requestId: 'r-7' })).toEqual({
      ok: false,
      error: 'duplicate-request',
      message: 'requestId "r-7" was already used for deployment "churn"; send each prediction with its own id',
    });
    expect(published).toHaveLength(1);
    expect(await sut.predict('churn', { inputs: [0], requestId: 'r-7', repeatsAllowed: true })).toMatchObject({ ok: true });
    expect(await sut.predict('churn', { inputs: [0] })).toMatchObject({ ok: true });
    expect([...taken]).toEqual(['churn/r-7']);
  });

  it('frees a client request id whose request left no prediction, so it may be sent again', async () => {
    let reject = true;
    const { sut, taken } = setUp(single, async () => {
      if (reject) throw new ModelError('rejected', 'model rejected the request (400)', 400);
      return answer([1]);
    });

    expect(await sut.predict('churn', { inputs: [0], requestId: 'r-8' })).toMatchObject({ ok: false, error: 'input-rejected' });
    expect(taken.size).toBe(0);
    reject = false;
    expect(await sut.predict('churn', { inputs: [1], requestId: 'r-8' })).toMatchObject({ ok: true });
  });

  it('calls no variant whose URL the allowlist refuses, however the spec came in: the primary answers for a refused canary', async () => {
    const smuggled = { ...canary, variants: [variants[0], { ...variants[1], url: 'http://169.254.169.254/latest' }] } as DeploymentSpec;
    const { sut, published, called } = setUp(smuggled, async () => answer([7]));

    expect(await sut.predict('churn', { inputs: [0], requestId: 'r-9' })).toMatchObject({ ok: true, value: { variant: 'v1' } });
    expect(called).toEqual(['v1']);
    expect(published[0].event).toMatchObject({ variant: 'v1', fallbackFrom: 'v2' });
  });

  it('fails with unavailable when the prediction could not be recorded (durable)', async () => {
    const { sut, failPublishing } = setUp(single, async () => answer([1]));
    failPublishing();

    expect(await sut.predict('churn', { inputs: [0] })).toEqual({
      ok: false,
      error: 'unavailable',
      message: 'the prediction could not be recorded in Kafka; retry later',
    });
  });

  it('answers although the prediction could not be recorded (fast)', async () => {
    const { sut, failPublishing } = setUp(single, async () => answer([1]), 'fast');
    failPublishing();

    expect(await sut.predict('churn', { inputs: [0], requestId: 'r-4' })).toMatchObject({ ok: true, value: { requestId: 'r-4', outputs: [1] } });
  });

  describe('a variant the client pins (OIP /versions/{variant}/infer)', () => {
    it('answers from that variant, with the model’s response parameters, and records nothing', async () => {
      const { sut, published } = setUp(canary, async (variant) => ({ ...answer([variant]), parameters: { served: variant } }));

      const outcome = await sut.predict('churn', { inputs: [0], requestId: 'r-5', pinned: 'v1' });

      expect(outcome).toEqual({ ok: true, value: { requestId: 'r-5', deployment: 'churn', variant: 'v1', outputs: ['v1'], parameters: { served: 'v1' } } });
      expect(published).toEqual([]);
    });

    it('is not answered for by another variant when it fails', async () => {
      const { sut } = setUp(canary, async (variant) => {
        if (variant === 'v2') throw new ModelError('timeout', 'too slow');
        return answer([7]);
      });

      expect(await sut.predict('churn', { inputs: [0], pinned: 'v2' })).toEqual({ ok: false, error: 'model-failed', message: 'variant "v2" failed: too slow' });
    });
  });

  it("mirrors the request's OIP parameters and requested outputs to the shadows", async () => {
    const shadow = { ...single, strategy: { type: 'shadow', primary: 'v1', shadows: ['v2'] } } as unknown as DeploymentSpec;
    const { sut, published } = setUp(shadow, async () => answer([1]));
    const extras = { parameters: { trace: 'on' }, outputs: [{ name: 'label' }] };

    await sut.predict('churn', { inputs: [0], requestId: 'r-6', extras });

    await new Promise((resolve) => setImmediate(resolve));
    expect(published.find((p) => p.topic === 'shadow-requests')?.event).toMatchObject({ requestId: 'r-6', shadows: ['v2'], extras });
  });

  describe('binary tensors (Triton binary extension)', () => {
    const shadow = {
      ...single,
      reward: { type: 'match', outputPath: 'label.data.0' },
      strategy: { type: 'shadow', primary: 'v1', shadows: ['v2'] },
    } as unknown as DeploymentSpec;
    const outputs = [
      { name: 'probs', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 8 } },
      { name: 'label', datatype: 'INT32', shape: [1], parameters: { binary_data_size: 4 } },
    ];
    const binaryAnswer = {
      ...answer(outputs),
      binary: Buffer.concat([Buffer.from(new Float32Array([0.25, 0.75]).buffer), Buffer.from(new Int32Array([1]).buffer)]),
    };
    const inputs = [{ name: 'x', datatype: 'UINT8', shape: [3], parameters: { binary_data_size: 3 } }];

    it('mirrors binary inputs to the shadows in base64, and records outputs with the scored one decoded and the others by digest', async () => {
      const { sut, published } = setUp(shadow, async () => binaryAnswer);

      const outcome = await sut.predict('churn', { inputs, requestId: 'r-b', extras: { binary: [Buffer.from([1]), Buffer.from([2, 3])] } });

      expect(outcome).toMatchObject({ ok: true, value: { outputs, binary: binaryAnswer.binary } });
      await new Promise((resolve) => setImmediate(resolve));
      const recorded = [
        { name: 'probs', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 8, binary_data_sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } },
        { name: 'label', datatype: 'INT32', shape: [1], data: [1] },
      ];
      expect(published.find((p) => p.topic === 'predictions')?.event.outputs).toEqual(recorded);
      const mirrored = published.find((p) => p.topic === 'shadow-requests')?.event as unknown as Record<string, unknown>;
      expect(mirrored).toMatchObject({ inputs, binaryInputs: 'AQID', primaryOutputs: recorded, extras: {} });
      expect(JSON.stringify(mirrored)).not.toContain('Buffer');
    });

    it(`does not mirror binary inputs past ${MAX_MIRRORED_BINARY_BYTES} bytes (a Kafka record could not carry them), and still answers`, async () => {
      const { sut, published } = setUp(shadow, async () => binaryAnswer);

      const outcome = await sut.predict('churn', {
        inputs,
        requestId: 'r-big',
        extras: { binary: [Buffer.alloc(MAX_MIRRORED_BINARY_BYTES), Buffer.alloc(1)] },
      });

      expect(outcome.ok).toBe(true);
      await new Promise((resolve) => setImmediate(resolve));
      expect(published.map((p) => p.topic)).toEqual(['predictions']);
    });

    it('records a 1 MB JSON output by digest, and an event still too large without its outputs (outputsTrimmed), answering in full either way (durable)', async () => {
      const big = { name: 'y', datatype: 'FP32', shape: [262144], data: new Array<number>(262144).fill(0.5) };
      const { sut, published } = setUp(single, async () => answer([big]));

      const outcome = await sut.predict('churn', { inputs: [0], requestId: 'r-json' });

      expect(outcome).toMatchObject({ ok: true, value: { outputs: [big] } });
      expect(published[0].event.outputs).toEqual([
        {
          name: 'y',
          datatype: 'FP32',
          shape: [262144],
          parameters: { binary_data_size: 1048576, binary_data_sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
        },
      ]);
      expect(JSON.stringify(published[0].event).length).toBeLessThan(MAX_EVENT_BYTES);

      const { sut: other, published: trimmed } = setUp(single, async () => answer({ text: 'x'.repeat(MAX_EVENT_BYTES) }));
      expect((await other.predict('churn', { inputs: [0], requestId: 'r-huge' })).ok).toBe(true);
      expect(trimmed[0].event).toMatchObject({ requestId: 'r-huge', outputsTrimmed: true });
      expect(trimmed[0].event.outputs).toBeUndefined();
    });

    it('answers binary outputs decoded outside the OIP route (no extras: nobody asked for bytes)', async () => {
      const { sut } = setUp({ ...single, reward: { type: 'match' } } as unknown as DeploymentSpec, async () => binaryAnswer);

      const outcome = await sut.predict('churn', { inputs: [0], requestId: 'r-j' });

      expect(outcome).toEqual({
        ok: true,
        value: {
          requestId: 'r-j',
          deployment: 'churn',
          variant: 'v1',
          outputs: [
            { name: 'probs', datatype: 'FP32', shape: [2], data: [0.25, 0.75] },
            { name: 'label', datatype: 'INT32', shape: [1], data: [1] },
          ],
        },
      });
    });
  });
});
