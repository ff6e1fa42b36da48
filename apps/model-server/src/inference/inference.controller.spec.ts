import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { groundTruth, predict, randomFeatures, seededRng, toInferInputs } from '@switchyard/demo-models';
import { HealthRegistry, RuntimeModule } from '@switchyard/runtime';
import { ModelServerEnv } from '../model-server.env';
import { InferenceController } from './inference.controller';
import { inferenceMetrics } from './inference.metrics';
import { InferenceModule } from './inference.module';

async function startApp(overrides: Partial<ModelServerEnv> = {}): Promise<NestFastifyApplication> {
  const env = Object.assign(new ModelServerEnv(), { LOG_LEVEL: 'fatal' }, overrides);
  const moduleRef = await Test.createTestingModule({
    imports: [RuntimeModule.forRoot('model-server', env), InferenceModule],
  }).compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter());
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

async function count(labels: { model: string; protocol: string; status: string }): Promise<number> {
  const metric = await inferenceMetrics.inferences.get();
  return metric.values.find((v) => Object.entries(labels).every(([k, value]) => v.labels[k as keyof typeof labels] === value))?.value ?? 0;
}

describe(InferenceController.name, () => {
  let sut: NestFastifyApplication;
  const call = (method: 'GET' | 'POST', url: string, body?: unknown) => sut.inject({ method, url, ...(body === undefined ? {} : { payload: body as object }) });

  beforeAll(async () => {
    sut = await startApp();
  });

  afterAll(async () => {
    await sut.close();
  });

  describe('Open Inference Protocol v2', () => {
    it('answers server metadata, liveness and readiness', async () => {
      expect((await call('GET', '/v2')).json()).toEqual({ name: 'switchyard-model-server', version: '1', extensions: [] });
      expect((await call('GET', '/v2/health/live')).json()).toEqual({ live: true });
      const ready = await call('GET', '/v2/health/ready');
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toEqual({ ready: true });
    });

    it('describes a model and its tensors', async () => {
      const response = await call('GET', '/v2/models/churn-v3');
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({
        name: 'churn-v3',
        versions: ['1'],
        platform: 'switchyard-demo',
        inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 4] }],
        outputs: [
          { name: 'label', datatype: 'INT64', shape: [-1] },
          { name: 'score', datatype: 'FP32', shape: [-1] },
        ],
        parameters: { accuracy: 0.9, latency_ms: 0 },
      });
      expect((await call('GET', '/v2/models/churn-v3/versions/1')).statusCode).toBe(200);
      expect((await call('GET', '/v2/models/churn-v3/ready')).json()).toEqual({ name: 'churn-v3', ready: true });
      expect((await call('GET', '/v2/models/churn-v3/versions/1/ready')).statusCode).toBe(200);
    });

    it('answers 404 {error} for an unknown model or version', async () => {
      const unknown = await call('GET', '/v2/models/nope/ready');
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json()).toEqual({ error: expect.stringContaining('model "nope" is not served here; available: churn-v1') });
      const version = await call('GET', '/v2/models/churn-v1/versions/2');
      expect(version.statusCode).toBe(404);
      expect(version.json()).toEqual({ error: 'model "churn-v1" has no version "2"; versions: 1' });
      const before = await count({ model: 'unknown', protocol: 'v2', status: 'unknown-model' });
      const infer = await call('POST', '/v2/models/nope/infer', { inputs: toInferInputs([0, 0, 0, 0]) });
      expect(infer.statusCode).toBe(404);
      expect(await count({ model: 'unknown', protocol: 'v2', status: 'unknown-model' })).toBe(before + 1);
    });

    it("infers one row with the model's own deterministic answer and echoes the id", async () => {
      const features = [0.9, 0.1, 0.2, 0.3];
      const before = await count({ model: 'churn-v2', protocol: 'v2', status: 'ok' });
      const response = await call('POST', '/v2/models/churn-v2/infer', { id: 'req-1', inputs: toInferInputs(features) });
      expect(response.statusCode).toBe(200);
      const expected = predict('churn-v2', features);
      expect(response.json()).toEqual({
        model_name: 'churn-v2',
        model_version: '1',
        id: 'req-1',
        outputs: [
          { name: 'label', shape: [1], datatype: 'INT64', data: [expected.label] },
          { name: 'score', shape: [1], datatype: 'FP32', data: [expected.score] },
        ],
      });
      expect(await count({ model: 'churn-v2', protocol: 'v2', status: 'ok' })).toBe(before + 1);
    });

    it('infers a batch of n rows, and makes up an id when none is given', async () => {
      const rng = seededRng(5);
      const rows = Array.from({ length: 50 }, () => randomFeatures(rng));
      const response = await call('POST', '/v2/models/churn-perfect/infer', { inputs: toInferInputs(rows) });
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body.id).toEqual(expect.any(String));
      expect(body.outputs[0]).toEqual({ name: 'label', shape: [50], datatype: 'INT64', data: rows.map(groundTruth) });
      expect(body.outputs[1].shape).toEqual([50]);
    });

    it('accepts what the spec allows: model_name, any string id, parameters, fields it does not name', async () => {
      const id = 'req 1/' + 'x'.repeat(200);
      const body = { model_name: 'churn-v1', id, parameters: { trace: { on: true } }, inputs: toInferInputs([1, 0, 0, 0]), extra: 1 };
      const response = await call('POST', '/v2/models/churn-v1/infer', body);
      expect(response.statusCode).toBe(200);
      expect(response.json().id).toBe(id);
    });

    it('returns only the outputs asked for', async () => {
      const response = await call('POST', '/v2/models/churn-v1/infer', { inputs: toInferInputs([1, 0, 0, 0]), outputs: [{ name: 'score' }] });
      expect(response.json().outputs.map((o: { name: string }) => o.name)).toEqual(['score']);
      const unknown = await call('POST', '/v2/models/churn-v1/infer', { inputs: toInferInputs([1, 0, 0, 0]), outputs: [{ name: 'proba' }] });
      expect(unknown.statusCode).toBe(400);
      expect(unknown.json()).toEqual({ error: 'requested output "proba" does not exist; outputs: label, score' });
    });

    it.each([
      ['no inputs', {}, 'invalid inference request: inputs'],
      ['a tensor without shape or datatype', { inputs: [{ name: 'features', data: [1, 2, 3, 4] }] }, 'inputs.0.shape'],
      ['a body that is an array', [1, 2], 'body must be a JSON object'],
      ['a wrongly named tensor', { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }, 'missing input tensor "features"'],
      [
        'a wrong length',
        { inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3] }] },
        'inputs.0.data has 3 elements; shape [1, 4] needs 4',
      ],
      [
        'a non-number',
        { inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 'x', 4] }] },
        'inputs.0.data element 2 (x) is not a valid FP32',
      ],
    ])('answers 400 {error} for %s', async (_case, body, message) => {
      const before = await count({ model: 'churn-v1', protocol: 'v2', status: 'invalid' });
      const response = await call('POST', '/v2/models/churn-v1/infer', body);
      expect(response.statusCode).toBe(400);
      expect(Object.keys(response.json())).toEqual(['error']);
      expect(response.json().error).toContain(message);
      expect(await count({ model: 'churn-v1', protocol: 'v2', status: 'invalid' })).toBe(before + 1);
    });

    it('answers 400 {error} for a body that is not JSON', async () => {
      const response = await sut.inject({
        method: 'POST',
        url: '/v2/models/churn-v1/infer',
        headers: { 'content-type': 'application/json' },
        payload: '{"inputs": [',
      });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual({ error: expect.stringMatching(/JSON/) });
    });

    it('answers 500 {error} from churn-broken, and counts it', async () => {
      const before = await count({ model: 'churn-broken', protocol: 'v2', status: 'failed' });
      const response = await call('POST', '/v2/models/churn-broken/infer', { inputs: toInferInputs([1, 2, 3, 4]) });
      expect(response.statusCode).toBe(500);
      expect(response.json()).toEqual({ error: 'churn-broken always fails (a test model)' });
      expect(await count({ model: 'churn-broken', protocol: 'v2', status: 'failed' })).toBe(before + 1);
    });

    it('keeps Nest error bodies on routes outside the protocols', async () => {
      expect((await call('GET', '/v2/nowhere')).json()).toEqual({ error: 'Cannot GET /v2/nowhere' });
      expect((await call('GET', '/nowhere')).json()).toMatchObject({ statusCode: 404, message: 'Cannot GET /nowhere' });
    });
  });

  describe('plain JSON protocol', () => {
    it('answers one row with scalars, under "features" or bare', async () => {
      const features = [0.2, 0.7, 0.1, 0.9];
      const expected = predict('churn-v3', features);
      for (const inputs of [{ features }, features]) {
        const response = await call('POST', '/json/churn-v3', { inputs });
        expect(response.statusCode).toBe(200);
        expect(response.json()).toEqual({ outputs: { label: expected.label, score: expected.score } });
      }
    });

    it('reads OIP tensors too, as the router sends them on /v2', async () => {
      const features = [0.2, 0.7, 0.1, 0.9];
      const expected = predict('churn-v3', features);
      const one = await call('POST', '/json/churn-v3', { inputs: [{ name: 'features', shape: [4], datatype: 'FP32', data: features }] });
      expect(one.json()).toEqual({ outputs: { label: expected.label, score: expected.score } });
      const batch = await call('POST', '/json/churn-v3', { inputs: toInferInputs([features, features]) });
      expect(batch.json()).toEqual({ outputs: { label: [expected.label, expected.label], score: [expected.score, expected.score] } });
    });

    it('answers a batch with arrays', async () => {
      const rows = [
        [1, 0, 0, 0],
        [0, 0, 1, 0],
      ];
      const response = await call('POST', '/json/churn-perfect', { inputs: rows });
      expect(response.json().outputs.label).toEqual([1, 0]);
    });

    it.each([
      ['no inputs', { features: [1, 2, 3, 4] }, 'body must be a JSON object with "inputs"'],
      ['a short vector', { inputs: [1, 2, 3] }, 'inputs must have 4 numbers; got 3'],
    ])('answers 400 {error} for %s', async (_case, body, message) => {
      const response = await call('POST', '/json/churn-v1', body);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual({ error: message });
    });

    it('answers 404 {error} for an unknown model', async () => {
      const response = await call('POST', '/json/nope', { inputs: [1, 2, 3, 4] });
      expect(response.statusCode).toBe(404);
      expect(response.json().error).toContain('is not served here');
    });
  });

  it('stops being ready once shutdown begins', async () => {
    const app = await startApp();
    try {
      app.get(HealthRegistry).drain();
      const response = await app.inject({ method: 'GET', url: '/v2/health/ready' });
      expect(response.statusCode).toBe(503);
      expect(response.json()).toEqual({ error: 'not ready: shutdown=draining' });
    } finally {
      await app.close();
    }
  });

  it('waits MODEL_LATENCY_MS before answering', async () => {
    const app = await startApp({ MODEL_LATENCY_MS: 150 });
    try {
      const started = performance.now();
      const response = await app.inject({ method: 'POST', url: '/json/churn-v1', payload: { inputs: [1, 2, 3, 4] } });
      expect(response.statusCode).toBe(200);
      expect(performance.now() - started).toBeGreaterThanOrEqual(145);
      expect((await app.inject({ method: 'GET', url: '/v2/models/churn-slow' })).json().parameters.latency_ms).toBe(2150);
    } finally {
      await app.close();
    }
  });

  it('fails the MODEL_FAIL_RATE share of inferences with 500 {error}', async () => {
    const app = await startApp({ MODEL_FAIL_RATE: 1 });
    try {
      const response = await app.inject({ method: 'POST', url: '/v2/models/churn-v1/infer', payload: { inputs: toInferInputs([1, 2, 3, 4]) } });
      expect(response.statusCode).toBe(500);
      expect(response.json()).toEqual({ error: 'simulated failure (MODEL_FAIL_RATE=1)' });
    } finally {
      await app.close();
    }
  });
});
