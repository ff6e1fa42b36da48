import { DeploymentSpec, envelope, ExactInteger, ShadowRequestEvent } from '@switchyard/contracts';
import { ModelAnswer, ModelClient, ModelError, UrlAllowlist } from '@switchyard/model-client';
import { SpecVersions } from '@switchyard/store';
import { ShadowWorkerEnv } from '../shadow-worker.env';
import { ShadowService } from './shadow.service';

const spec = {
  name: 'churn',
  version: 2,
  variants: [
    { name: 'v1', url: 'http://127.0.0.1:9000' },
    { name: 'v2', url: 'http://127.0.0.1:9000' },
  ],
  strategy: { type: 'shadow', primary: 'v1', shadows: ['v2'] },
  reward: { type: 'match' },
} as unknown as DeploymentSpec;
const request = (specVersion: number, shadows = ['v2']): ShadowRequestEvent => ({
  ...envelope('shadowRequest'),
  requestId: `r-${specVersion}`,
  deployment: 'churn',
  specVersion,
  inputs: [0],
  primaryOutputs: [1],
  shadows,
});

function setUp(infer: () => Promise<ModelAnswer>, served = spec) {
  const specs = { get: async (_name: string, version: number) => (version === served.version ? served : null) } as unknown as SpecVersions;
  return new ShadowService({ infer } as unknown as ModelClient, specs, new UrlAllowlist(''), { SHADOW_CONCURRENCY: 2 } as ShadowWorkerEnv);
}

describe(ShadowService.name, () => {
  it("calls the shadow with the primary's request: parameters, requested outputs, 64-bit integers as numbers again", async () => {
    const calls: unknown[][] = [];
    const sut = new ShadowService(
      { infer: async (...args: unknown[]) => (calls.push(args), { outputs: [1], latencyMs: 1, attempts: 1 }) } as unknown as ModelClient,
      { get: async () => spec } as unknown as SpecVersions,
      new UrlAllowlist(''),
      { SHADOW_CONCURRENCY: 2 } as ShadowWorkerEnv,
    );
    const extras = { parameters: { trace: 'on' }, outputs: [{ name: 'label' }] };
    const inputs = [{ name: 'ids', shape: [1], datatype: 'INT64', data: ['9007199254740993'] }];

    await sut.run([{ ...request(2), inputs, extras }]);

    expect(calls).toEqual([[spec.variants[1], [{ ...inputs[0], data: [new ExactInteger('9007199254740993')] }], 'r-2', extras]]);
  });

  it("sends the primary's binary inputs as bytes, and compares binary outputs in the form the primary's event has them", async () => {
    const calls: unknown[][] = [];
    const outputs = [{ name: 'label', datatype: 'INT32', shape: [1], parameters: { binary_data_size: 4 } }];
    const sut = new ShadowService(
      {
        infer: async (...args: unknown[]) => (calls.push(args), { outputs, binary: Buffer.from(new Int32Array([1]).buffer), latencyMs: 1, attempts: 1 }),
      } as unknown as ModelClient,
      { get: async () => spec } as unknown as SpecVersions,
      new UrlAllowlist(''),
      { SHADOW_CONCURRENCY: 2 } as ShadowWorkerEnv,
    );
    const primaryOutputs = [{ name: 'label', datatype: 'INT32', shape: [1], data: [1] }];

    const [event] = await sut.run([{ ...request(2), binaryInputs: 'AQID', primaryOutputs }]);

    expect(calls[0][3]).toEqual({ binary: [Buffer.from([1, 2, 3])] });
    expect(event).toMatchObject({ outputs: primaryOutputs, agreesWithPrimary: true });
  });

  it("publishes each shadow's answer with whether it agrees with the primary", async () => {
    const sut = setUp(async () => ({ outputs: [1], latencyMs: 3.21, attempts: 1 }));

    const [event] = await sut.run([request(2)]);

    expect(event).toEqual({
      type: 'prediction',
      version: 1,
      eventId: expect.any(String),
      occurredAt: expect.any(String),
      requestId: 'r-2',
      deployment: 'churn',
      variant: 'v2',
      role: 'shadow',
      strategy: 'shadow',
      specVersion: 2,
      probability: 1,
      outputs: [1],
      latencyMs: 3.21,
      agreesWithPrimary: true,
    });
  });

  it("carries the served prediction's plan step, so both halves of a request count (and pair) under one split key", async () => {
    const sut = setUp(async () => ({ outputs: [1], latencyMs: 1, attempts: 1 }));

    const [stepped, first] = await sut.run([{ ...request(2), step: 3 }, request(2)]);

    expect(stepped.step).toBe(3);
    expect(first).not.toHaveProperty('step');
  });

  it('checks the allowlist before every call: a shadow outside it is not called, its event says why (issue #25)', async () => {
    const infer = jest.fn(async () => ({ outputs: [1], latencyMs: 1, attempts: 1 }));
    const smuggled = { ...spec, variants: [spec.variants[0], { ...spec.variants[1], url: 'http://10.0.0.5:9000' }] } as DeploymentSpec;
    const sut = setUp(infer, smuggled);

    const [event] = await sut.run([request(2)]);

    expect(infer).not.toHaveBeenCalled();
    expect(event.error).toMatch(/^refused: host "10\.0\.0\.5:9000" is not allowed: variant URLs may name the loopback range/);
  });

  it("records a model's failure as the event's error", async () => {
    const sut = setUp(async () => {
      throw new ModelError('timeout', 'model did not answer within 100 ms');
    });

    const [event] = await sut.run([request(2)]);

    expect(event).toMatchObject({ variant: 'v2', error: 'timeout: model did not answer within 100 ms' });
    expect(event).not.toHaveProperty('outputs');
  });

  it('records a missing spec version or variant as the error, without calling a model', async () => {
    const infer = jest.fn();
    const sut = setUp(infer);

    const events = await sut.run([request(9), request(2, ['v3'])]);

    expect(events.map((e) => e.error)).toEqual([
      'spec-missing: deployment "churn" has no spec version 9',
      'unknown-variant: spec version 2 of "churn" has no variant "v3"',
    ]);
    expect(events.map((e) => e.latencyMs)).toEqual([0, 0]);
    expect(infer).not.toHaveBeenCalled();
  });
});
