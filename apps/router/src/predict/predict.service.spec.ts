import { Logger } from '@nestjs/common';
import { DeploymentSpec, PredictionEvent } from '@switchyard/contracts';
import { KafkaClient } from '@switchyard/messaging';
import { ModelAnswer, ModelClient, ModelError, UrlAllowlist } from '@switchyard/model-client';
import { DeploymentCache } from '../deployments/deployment.cache';
import { RouterEnv } from '../router.env';
import { ArmWeights } from './arm-weights';
import { PredictService } from './predict.service';
import { RequestIds } from './request-ids';

const variants = [
  { name: 'v1', url: 'http://127.0.0.1:9000', model: 'm1', protocol: 'v2', timeoutMs: 100, retries: 0 },
  { name: 'v2', url: 'http://127.0.0.1:9000', model: 'm2', protocol: 'v2', timeoutMs: 100, retries: 0 },
];
const single = { name: 'churn', version: 3, variants, strategy: { type: 'single', variant: 'v1' } } as unknown as DeploymentSpec;
const canary = { name: 'churn', version: 4, variants, strategy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 100 } } as unknown as DeploymentSpec;
const answer = (outputs: unknown): ModelAnswer => ({ outputs, latencyMs: 2.5, attempts: 1 });

function setUp(spec: DeploymentSpec | undefined, infer: (variant: string) => Promise<ModelAnswer>, publishMode: RouterEnv['PUBLISH_MODE'] = 'durable') {
  const called: string[] = [];
  const published: { topic: string; key: string; event: PredictionEvent }[] = [];
  const taken = new Set<string>();
  let publishFails = false;
  const kafka = {
    topics: { predictions: 'predictions', shadowRequests: 'shadow-requests' },
    publishJson: async (topic: string, key: string, event: PredictionEvent) => {
      if (publishFails) throw new Error('broker down');
      published.push({ topic, key, event });
    },
  } as unknown as KafkaClient;
  const sut = new PredictService(
    { get: (name: string) => (name === spec?.name ? spec : undefined) } as unknown as DeploymentCache,
    { get: () => undefined } as unknown as ArmWeights,
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
});
