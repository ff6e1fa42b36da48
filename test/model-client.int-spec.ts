import { StoredVariant } from '@switchyard/contracts';
import { predict, toInferInputs } from '@switchyard/demo-models';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { MAX_MODEL_ANSWER_BYTES, MAX_REJECTION_DETAIL_CHARS, ModelClient, ModelError } from '@switchyard/model-client';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { freePort } from './support/processes';
import { isolation } from './support/kafka';
import { useStack } from './support/stack';

describe('ModelClient against the real demo model-server', () => {
  const { server } = useStack({ ids: isolation('model-client'), services: { server: modelServerService } });
  const client = new ModelClient();
  const features = [0.9, 0.8, 0.1, 0.5];
  const variant = (overrides: Partial<StoredVariant>): StoredVariant => ({
    name: 'v',
    url: server.url,
    model: 'churn-v1',
    protocol: 'v2',
    timeoutMs: 1000,
    retries: 0,
    ...overrides,
  });
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error('expected the call to fail');
      },
      (error: unknown) => error as ModelError,
    );

  afterAll(async () => {
    await client.onApplicationShutdown();
  });

  it('calls a v2 model and returns its OIP outputs', async () => {
    const answer = await client.infer(variant({}), toInferInputs(features), 'req-1');
    const expected = predict('churn-v1', features);
    expect(answer.attempts).toBe(1);
    expect(answer.latencyMs).toBeGreaterThan(0);
    expect(answer.outputs).toEqual(expect.arrayContaining([expect.objectContaining({ data: [expected.label] })]));
  });

  it('calls a plain-JSON model at its URL', async () => {
    const answer = await client.infer(variant({ protocol: 'json', url: `${server.url}/json/churn-v2`, model: undefined }), { features }, 'req-2');
    expect(answer.outputs).toEqual(expect.objectContaining({ label: predict('churn-v2', features).label }));
  });

  it('gives up at the variant timeout, with kind "timeout", and does not wait for the slow answer', async () => {
    const started = performance.now();
    const error = await failure(client.infer(variant({ model: 'churn-slow', timeoutMs: 150 }), toInferInputs(features), 'req-3'));
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(ModelError);
    expect(error.kind).toBe('timeout');
    expect(error.message).toBe('model did not answer within 150 ms');
    expect(elapsed).toBeLessThan(1000);
  });

  it('retries a timeout within the variant budget: retries + 1 attempts in all', async () => {
    const started = performance.now();
    const error = await failure(client.infer(variant({ model: 'churn-slow', timeoutMs: 100, retries: 2 }), toInferInputs(features), 'req-4'));
    expect(error.kind).toBe('timeout');
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
  });

  it('reports a 5xx as a retryable server error with the model status', async () => {
    const error = await failure(client.infer(variant({ model: 'churn-broken', retries: 1 }), toInferInputs(features), 'req-5'));
    expect(error.kind).toBe('server-error');
    expect(error.status).toBe(500);
    expect(error.retryable).toBe(true);
  });

  it('reports a 4xx (bad inputs, unknown model) as rejected, not retryable', async () => {
    const bad = await failure(client.infer(variant({}), [{ name: 'features', shape: [1, 2], datatype: 'FP64', data: [1, 2] }], 'req-6'));
    expect(bad.kind).toBe('rejected');
    expect(bad.retryable).toBe(false);
    const unknown = await failure(client.infer(variant({ model: 'no-such-model' }), toInferInputs(features), 'req-7'));
    expect(unknown.kind).toBe('rejected');
    expect(unknown.status).toBe(404);
  });

  it("keeps a 4xx's OIP error message apart as its detail, on one line and bounded; never a 5xx body", async () => {
    const bad = await failure(client.infer(variant({}), [{ name: 'features', shape: [1, 2], datatype: 'FP64', data: [1, 2] }], 'req-10'));
    expect(bad.message).toBe('model rejected the request (400)');
    expect(bad.detail).toBe('input tensor "features" must have shape [n, 4] or [4]; got [1,2]');
    const loud: Server = createServer((request, response) => {
      const status = request.url?.includes('/m400/') ? 400 : 500;
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `line one\nline two ${'x'.repeat(1000)}` }));
    });
    await new Promise<void>((resolve) => loud.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(loud.address() as AddressInfo).port}`;
      const rejected = await failure(client.infer(variant({ url, model: 'm400' }), toInferInputs(features), 'req-11'));
      expect(rejected.message).toBe('model rejected the request (400)');
      expect(rejected.detail).toBe(`line one line two ${'x'.repeat(MAX_REJECTION_DETAIL_CHARS - 'line one line two '.length)}`);
      const failed = await failure(client.infer(variant({ url, model: 'm500' }), toInferInputs(features), 'req-12'));
      expect(failed.message).toBe('model answered 500');
    } finally {
      loud.closeAllConnections();
      await new Promise((resolve) => loud.close(resolve));
    }
  });

  it('calls the model version a variant pins, and reads its metadata and readiness there', async () => {
    const pinned = variant({ modelVersion: '1' });
    expect((await client.infer(pinned, toInferInputs(features), 'req-13')).outputs).toHaveLength(2);
    expect(await client.metadata(pinned)).toMatchObject({ name: 'churn-v1', versions: ['1'] });
    expect(await client.ready(pinned)).toBe(true);
    const missing = variant({ modelVersion: '2' });
    const error = await failure(client.infer(missing, toInferInputs(features), 'req-14'));
    expect([error.kind, error.status, error.message, error.detail]).toEqual([
      'rejected',
      404,
      'model rejected the request (404)',
      'model "churn-v1" has no version "2"; versions: 1',
    ]);
    expect(await client.ready(missing)).toBe(false);
    expect((await failure(client.metadata(missing))).status).toBe(404);
    // A json variant has neither: it counts as ready, and has no metadata to give.
    const json = variant({ protocol: 'json', url: `${server.url}/json/churn-v1`, model: undefined });
    expect(await client.ready(json)).toBe(true);
    expect((await failure(client.metadata(json))).kind).toBe('bad-response');
  });

  it('says why a variant cannot serve (what a PUT refuses with 422): a missing model or version, a closed port, a silent server', async () => {
    expect(await client.unready(variant({}))).toBeUndefined();
    expect(await client.unready(variant({ model: 'churn-v9' }))).toBe('its model server has no model "churn-v9"');
    expect(await client.unready(variant({ modelVersion: '2' }))).toBe('its model server has no model "churn-v1" version "2"');
    const closed = `http://127.0.0.1:${await freePort()}`;
    expect(await client.unready(variant({ url: closed }))).toBe('model unreachable: ECONNREFUSED');
    // A json variant: its server answering at all, any status, is what can be checked.
    expect(await client.unready(variant({ protocol: 'json', url: `${server.url}/json/churn-v1`, model: undefined }))).toBeUndefined();
    expect(await client.unready(variant({ protocol: 'json', url: `${server.url}/nowhere`, model: undefined }))).toBeUndefined();
    expect(await client.unready(variant({ protocol: 'json', url: closed, model: undefined }))).toBe('model unreachable: ECONNREFUSED');
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      expect(await client.unready(variant({ url, timeoutMs: 10000 }), 200)).toBe('model did not answer within 200 ms');
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('reports a closed port as unavailable, by its error code and never its address', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const error = await failure(client.infer(variant({ url }), toInferInputs(features), 'req-8'));
    expect(error.kind).toBe('unavailable');
    expect(error.message).toBe('model unreachable: ECONNREFUSED');
  });

  it('neither follows a redirect nor takes its body as the answer', async () => {
    const redirecting: Server = createServer((_request, response) => {
      response.writeHead(307, { location: 'http://10.0.0.5:9000/v2/models/churn-v1/infer', 'content-type': 'application/json' });
      response.end(JSON.stringify({ outputs: [{ name: 'churn', shape: [1], datatype: 'FP32', data: [1] }] }));
    });
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    try {
      const error = await failure(
        client.infer(variant({ url: `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}` }), toInferInputs(features), 'req-8'),
      );
      expect([error.kind, error.message, error.retryable]).toEqual(['bad-response', 'model answered 307, not 200', false]);
    } finally {
      redirecting.closeAllConnections();
      await new Promise((resolve) => redirecting.close(resolve));
    }
  });

  it('refuses an answer past MAX_MODEL_ANSWER_BYTES, declared or streamed, as a bad response', async () => {
    const body = JSON.stringify({ outputs: [{ name: 'x', shape: [1], datatype: 'BYTES', data: ['y'.repeat(MAX_MODEL_ANSWER_BYTES)] }] });
    const huge: Server = createServer((request, response) => {
      // With a Content-Length, then chunked (no declared length): both are cut off at the bound.
      if (request.url?.includes('declared')) response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      else response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      response.write(body.slice(0, 1024));
      response.end(body.slice(1024));
    });
    await new Promise<void>((resolve) => huge.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(huge.address() as AddressInfo).port}`;
      for (const path of ['/declared', '/streamed']) {
        const error = await failure(client.infer(variant({ url: `${url}${path}` }), toInferInputs(features), 'req-9'));
        expect([path, error.kind, error.message]).toEqual([path, 'bad-response', `model answer is larger than ${MAX_MODEL_ANSWER_BYTES} bytes`]);
      }
    } finally {
      huge.closeAllConnections();
      await new Promise((resolve) => huge.close(resolve));
    }
  });
});
