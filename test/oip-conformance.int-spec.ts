import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import {
  encodeRaw,
  ExactInteger,
  GrpcInferRequest,
  GrpcInferResponse,
  inferRequestToGrpc,
  inferResponseFromGrpc,
  OipInferRequest,
} from '@switchyard/contracts';
import { findDemoModel, predict, toInferInputs } from '@switchyard/demo-models';
import { InferenceGrpcServer } from '../apps/model-server/src/inference/inference.grpc';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { OipGrpcServer } from '../apps/router/src/oip/oip-grpc';
import { routerService } from '../apps/router/src/router.service-definition';
import { shadowWorkerService } from '../apps/shadow-worker/src/shadow-worker.service-definition';
import { OipValidators } from '../libs/contracts/oip/validators';
import { isolation } from './support/kafka';
import { tritonLikeClient } from './support/oip-grpc-client';
import { startStrictServer, StrictModel, StrictServer } from './support/oip-strict-server';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

const MODELS: StrictModel[] = [
  { name: 'echo-int64', versions: ['1', '2'], input: { name: 'INPUT0', datatype: 'INT64', shape: [-1] }, outputs: ['OUTPUT0', 'OUTPUT1'] },
  { name: 'echo-uint64', versions: ['1'], input: { name: 'INPUT0', datatype: 'UINT64', shape: [-1] }, outputs: ['OUTPUT0'] },
  { name: 'echo-fp16', versions: ['1'], input: { name: 'INPUT0', datatype: 'FP16', shape: [-1] }, outputs: ['OUTPUT0'] },
  { name: 'echo-bf16', versions: ['1'], input: { name: 'INPUT0', datatype: 'BF16', shape: [-1] }, outputs: ['OUTPUT0'] },
  { name: 'echo-bytes', versions: ['1'], input: { name: 'INPUT0', datatype: 'BYTES', shape: [-1] }, outputs: ['OUTPUT0'] },
  { name: 'image', versions: ['1'], input: { name: 'image', datatype: 'FP32', shape: [-1, 224, 224, 3] }, outputs: ['elements'], answer: 'count' },
];

/** INT64 elements as the binary extension sends them: 8 bytes each, little-endian. */
const int64Bytes = (...values: bigint[]) => Buffer.from(new BigInt64Array(values).buffer);

/**
 * The router's `/v2` routes checked against the Open Inference Protocol's REST spec
 * (libs/contracts/oip/spec): every answer against the spec's schemas and prose rules, every
 * request a model got against the same, by a strict model server written from the spec
 * (test/support/oip-strict-server.ts); requests shaped as tritonclient and the KServe SDK
 * send them. The demo model server is checked against the same validators, over REST and
 * over gRPC (its GRPC_PORT), alone and behind the router (a `protocol: "grpc"` variant,
 * called through the router's REST and gRPC services).
 */
describe('Open Inference Protocol conformance: router and demo model server against the spec', () => {
  const ids = isolation('oip-conformance');
  const { router, modelServer, predictions, shadowPredictions } = useStack({
    ids,
    services: {
      modelServer: [modelServerService, { GRPC_PORT: '0' }],
      router: [routerService, { KAFKA_INGRESS: 'false', GRPC_PORT: '0' }],
      shadowWorker: [shadowWorkerService, { SHADOW_GROUP: `shadow-${ids.groupSuffix}` }],
    },
    collect: { predictions: 'predictions', shadowPredictions: 'shadowPredictions' },
  });
  const validators = new OipValidators();
  let strict: StrictServer;

  /**
   * A raw call: the body as bytes, so fetch adds no Content-Type of its own (tritonclient
   * sends none). The answer's JSON (`text`, `body`) and, in the binary extension's framing,
   * the bytes after it (`binary`).
   */
  const call = async (method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}) => {
    const response = await fetch(`${router.url}${path}`, { method, headers, body: typeof body === 'string' ? Buffer.from(body) : body });
    const raw = Buffer.from(await response.arrayBuffer());
    const length = response.headers.get('inference-header-content-length');
    const text = raw.toString('utf8', 0, length === null ? raw.length : Number(length));
    const binary = length === null ? undefined : raw.subarray(Number(length));
    return { status: response.status, text, body: text ? JSON.parse(text) : undefined, binary, headers: response.headers };
  };
  const infer = (path: string, request: unknown, headers: Record<string, string> = {}) => call('POST', path, JSON.stringify(request), headers);
  /** A request in the binary extension's framing: the JSON header, then `chunks`. */
  const inferBinary = (path: string, header: unknown, chunks: Buffer[], headerLength?: string) => {
    const json = Buffer.from(JSON.stringify(header));
    const headers = { 'content-type': 'application/octet-stream', 'inference-header-content-length': headerLength ?? String(json.length) };
    return call('POST', path, Buffer.concat([json, ...chunks]), headers);
  };
  const expectError = (answer: { status: number; body: unknown }, status: number, message: string | RegExp) => {
    expect(answer.status).toBe(status);
    expect(validators.problems('inference_error_response', answer.body)).toEqual([]);
    expect((answer.body as { error: string }).error).toMatch(message);
  };
  const strictVariant = (name: string, model: string, extra: object = {}) => ({ name, url: strict.url, model, timeoutMs: 2000, ...extra });
  const put = async (name: string, spec: object, query = '') =>
    expect((await http('PUT', `${router.url}/v1/deployments/${name}${query}`, spec)).status).toBe(200);
  const int64 = (data: unknown[]) => [{ name: 'INPUT0', shape: [data.length], datatype: 'INT64', data }];

  beforeAll(async () => {
    strict = await startStrictServer(MODELS, validators);
    await put('echo', {
      variants: [strictVariant('v1', 'echo-int64', { modelVersion: '1' }), strictVariant('v2', 'echo-int64', { modelVersion: '2' })],
      strategy: { type: 'single', variant: 'v1' },
    });
    await put('mirror', {
      variants: [strictVariant('primary', 'echo-int64', { modelVersion: '1' }), strictVariant('shadow', 'echo-int64', { modelVersion: '2' })],
      strategy: { type: 'shadow', primary: 'primary', shadows: ['shadow'] },
      reward: { type: 'match', outputPath: 'OUTPUT1.data.0' },
    });
    for (const model of ['echo-uint64', 'echo-fp16', 'echo-bf16', 'echo-bytes', 'image']) {
      await put(model, { variants: [strictVariant('v1', model)], strategy: { type: 'single', variant: 'v1' } });
    }
    await put('churn', { variants: [{ name: 'v1', url: modelServer.url, model: 'churn-v1' }], strategy: { type: 'single', variant: 'v1' } });
    await put('churn-grpc', {
      variants: [{ name: 'g1', url: `http://127.0.0.1:${modelServer.app.get(InferenceGrpcServer).port}`, model: 'churn-v1', protocol: 'grpc' }],
      strategy: { type: 'single', variant: 'g1' },
    });
    await put('churn-json', {
      variants: [{ name: 'j1', url: `${modelServer.url}/json/churn-v2`, protocol: 'json' }],
      strategy: { type: 'single', variant: 'j1' },
    });
    // Down on purpose: force skips the readiness probe that would refuse it.
    await put(
      'down',
      { variants: [{ name: 'v1', url: 'http://127.0.0.1:9', model: 'm', timeoutMs: 300 }], strategy: { type: 'single', variant: 'v1' } },
      '?force=true',
    );
  });

  afterAll(async () => {
    await strict?.close();
  });

  afterEach(() => {
    // Every request the strict server got was valid by the spec, and so was every answer it gave.
    expect(strict.ownProblems).toEqual([]);
  });

  describe('server and model routes', () => {
    it('answers server metadata, liveness and readiness in the spec’s bodies', async () => {
      const meta = await call('GET', '/v2');
      expect(meta.status).toBe(200);
      expect(validators.problems('metadata_server_response', meta.body)).toEqual([]);
      expect(meta.body.extensions).toEqual(['binary_tensor_data']);
      const live = await call('GET', '/v2/health/live');
      expect(live.status).toBe(200);
      expect(validators.problems('live_server_response', live.body)).toEqual([]);
      const ready = await call('GET', '/v2/health/ready');
      expect(ready.status).toBe(200);
      expect(validators.problems('ready_server_response', ready.body)).toEqual([]);
    });

    it("describes a deployment as a model: its variants as versions, the serving variant's tensors", async () => {
      const meta = await call('GET', '/v2/models/echo');
      expect(meta.status).toBe(200);
      expect(validators.problems('metadata_model_response', meta.body)).toEqual([]);
      expect(meta.body).toMatchObject({ name: 'echo', versions: ['v1', 'v2'], inputs: [{ name: 'INPUT0', datatype: 'INT64', shape: [-1] }] });
      expect(strict.received.some((r) => r.url === '/v2/models/echo-int64/versions/1')).toBe(true);
      const version = await call('GET', '/v2/models/echo/versions/v2');
      expect(validators.problems('metadata_model_response', version.body)).toEqual([]);
      expect(version.body.versions).toEqual(['v2']);
      const demo = await call('GET', '/v2/models/churn');
      expect(validators.problems('metadata_model_response', demo.body)).toEqual([]);
      expect(demo.body.outputs.map((o: { name: string }) => o.name)).toEqual(['label', 'score']);
    });

    it('is ready when the serving variants are, and says which are not', async () => {
      for (const path of ['/v2/models/echo/ready', '/v2/models/echo/versions/v2/ready', '/v2/models/churn-json/ready']) {
        const ready = await call('GET', path);
        expect(ready.status).toBe(200);
        expect(validators.problems('ready_model_response', ready.body)).toEqual([]);
      }
      expectError(await call('GET', '/v2/models/down/ready'), 503, 'model "down" is not ready: variant v1');
    });

    it('refuses (422) a spec whose variant names a model or version the strict server does not have; force applies it', async () => {
      const spec = (model: string, modelVersion?: string) => ({
        variants: [strictVariant('v1', 'echo-int64'), strictVariant('v2', model, modelVersion === undefined ? {} : { modelVersion })],
        strategy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 10 },
      });
      const refused = await http('PUT', `${router.url}/v1/deployments/typo`, spec('echo-int6'));
      expect([refused.status, refused.body.problems]).toEqual([422, ['variant "v2" (model "echo-int6"): its model server has no model "echo-int6"']]);
      const version = await http('PUT', `${router.url}/v1/deployments/typo?dryRun=true`, spec('echo-int64', '9'));
      expect([version.status, version.body.problems]).toEqual([
        422,
        ['variant "v2" (model "echo-int64"): its model server has no model "echo-int64" version "9"'],
      ]);
      expect((await http('PUT', `${router.url}/v1/deployments/typo?dryRun=true`, spec('echo-int64', '2'))).body).toMatchObject({
        dryRun: true,
        result: 'written',
      });
      expect((await http('PUT', `${router.url}/v1/deployments/typo?force=true`, spec('echo-int6'))).status).toBe(200);
    });

    it('answers 404 {error} for an unknown model, version or route, a legal OIP name included', async () => {
      expectError(await call('GET', '/v2/models/Churn.V1'), 404, 'model "Churn.V1" does not exist');
      expectError(await infer('/v2/models/Churn.V1/infer', { inputs: int64([1]) }), 404, 'does not exist');
      expectError(await call('GET', '/v2/models/echo/versions/v9/ready'), 404, 'model "echo" has no version "v9"; versions: v1, v2');
      expectError(await infer('/v2/models/echo/versions/v9/infer', { inputs: int64([1]) }), 404, 'has no version "v9"');
      expectError(await call('GET', '/v2/nowhere'), 404, 'Cannot GET /v2/nowhere');
    });
  });

  describe('inference', () => {
    it('serves tritonclient’s requests: no Content-Type, outputs requested by name, an output asked for as binary answered so', async () => {
      const request = {
        id: '7',
        inputs: [{ name: 'INPUT0', shape: [3], datatype: 'INT64', data: [1, 2, 3] }],
        outputs: [{ name: 'OUTPUT1', parameters: { binary_data: true } }],
        parameters: { binary_data_output: false },
      };
      const answer = await infer('/v2/models/echo/infer', request);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toBe('application/octet-stream');
      const header = answer.body;
      expect(validators.responseProblems(request, header)).toEqual([]);
      expect(header).toMatchObject({
        model_name: 'echo',
        model_version: 'v1',
        id: '7',
        outputs: [{ name: 'OUTPUT1', datatype: 'INT64', shape: [3], parameters: { binary_data_size: 24 } }],
      });
      expect(answer.binary).toEqual(int64Bytes(1n, 2n, 3n));
      // Response-level parameters come through as the model gave them; the hints reach the model as the client sent them.
      expect(header.parameters).toEqual({ strict_version: '1', request_parameters: { binary_data_output: false } });
      const got = strict.received.filter((r) => r.url === '/v2/models/echo-int64/versions/1/infer').at(-1)!;
      expect(got.body).toMatchObject({ parameters: { binary_data_output: false }, outputs: [{ name: 'OUTPUT1', parameters: { binary_data: true } }] });
    });

    it('serves the KServe SDK’s requests: model_name, and any string id, which names the request id for feedback', async () => {
      for (const id of ['req 1', 'a/b', 'x'.repeat(200)]) {
        const request = { model_name: 'echo', id, inputs: int64([5]) };
        const answer = await infer('/v2/models/echo/infer', request, { 'content-type': 'application/json' });
        expect(answer.status).toBe(200);
        expect(validators.responseProblems(request, answer.body)).toEqual([]);
        const requestId = answer.headers.get('x-request-id')!;
        expect(requestId).toMatch(/^oip-[0-9a-f]{32}$/);
        await waitFor(() => predictions.messages.find((m) => m.key === requestId), { what: `the prediction event of id ${id.slice(0, 20)}` });
      }
    });

    it('passes 64-bit integers beyond 2^53 through exactly, both ways', async () => {
      const big = '[9007199254740993,-9223372036854775808,9223372036854775807]';
      const answer = await call(
        'POST',
        '/v2/models/echo/infer',
        `{"inputs":[{"name":"INPUT0","shape":[3],"datatype":"INT64","data":${big}}],"outputs":[{"name":"OUTPUT0"}]}`,
      );
      expect(answer.status).toBe(200);
      expect(answer.text).toContain(`"data":${big}`);
      const got = strict.received.filter((r) => r.url.endsWith('/infer')).at(-1)!.body as OipInferRequest;
      expect(got.inputs[0].data).toEqual([
        new ExactInteger('9007199254740993'),
        new ExactInteger('-9223372036854775808'),
        new ExactInteger('9223372036854775807'),
      ]);
      const unsigned = await call(
        'POST',
        '/v2/models/echo-uint64/infer',
        '{"inputs":[{"name":"INPUT0","shape":[1],"datatype":"UINT64","data":[18446744073709551615]}]}',
      );
      expect(unsigned.text).toContain('"data":[18446744073709551615]');
    });

    it('passes FP16 and BF16 tensors through', async () => {
      for (const datatype of ['FP16', 'BF16']) {
        const request = { inputs: [{ name: 'INPUT0', shape: [2], datatype, data: [0.5, -1.25] }] };
        const answer = await infer(`/v2/models/echo-${datatype.toLowerCase()}/infer`, request);
        expect(answer.status).toBe(200);
        expect(validators.responseProblems(request, answer.body)).toEqual([]);
        expect(answer.body.outputs[0]).toEqual({ name: 'OUTPUT0', shape: [2], datatype, data: [0.5, -1.25] });
      }
    });

    it('takes a 224×224×3 FP32 image as JSON (1.3 MB) under the 32 MiB default, and refuses more than that with 413 {error}', async () => {
      const data = Array.from({ length: 224 * 224 * 3 }, (_, i) => (i % 255) / 255 + 0.001);
      const body = JSON.stringify({ inputs: [{ name: 'image', shape: [1, 224, 224, 3], datatype: 'FP32', data }] });
      expect(body.length).toBeGreaterThan(1.3e6);
      const answer = await call('POST', '/v2/models/image/infer', body);
      expect(answer.status).toBe(200);
      expect(answer.body.outputs).toEqual([{ name: 'elements', shape: [1], datatype: 'INT64', data: [224 * 224 * 3] }]);
      expectError(await call('POST', '/v2/models/image/infer', Buffer.alloc(32 * 1024 * 1024 + 1, 0x20)), 413, /too large/i);
    });

    it('calls the pinned model version of a variant, and serves /versions/{variant}/infer by that variant', async () => {
      const answer = await infer('/v2/models/echo/versions/v2/infer', { inputs: int64([1]) });
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ model_version: 'v2', parameters: { strict_version: '2' } });
      expect(strict.received.at(-1)!.url).toBe('/v2/models/echo-int64/versions/2/infer');
    });

    it("answers a model's 400 as OIP's 400 with the model's own message", async () => {
      const answer = await infer('/v2/models/echo/infer', { inputs: [{ name: 'INPUT0', shape: [1, 1], datatype: 'INT64', data: [1] }] });
      expectError(answer, 400, 'input INPUT0 has shape [1, 1]; the model takes [-1]');
    });

    it('answers a json-protocol variant in OIP tensors', async () => {
      const features = [0.2, 0.7, 0.1, 0.9];
      const request = { id: 'j-1', inputs: [{ name: 'features', shape: [4], datatype: 'FP32', data: features }] };
      const answer = await infer('/v2/models/churn-json/infer', request);
      expect(answer.status).toBe(200);
      expect(validators.responseProblems(request, answer.body)).toEqual([]);
      const expected = predict('churn-v2', features);
      expect(answer.body.outputs).toEqual([
        { name: 'label', shape: [1], datatype: 'INT64', data: [expected.label] },
        { name: 'score', shape: [1], datatype: 'FP64', data: [expected.score] },
      ]);
    });
  });

  describe('errors', () => {
    it.each([
      ['a body that is not JSON', 400, 'body is not valid JSON', '{"inputs": ['],
      [
        'JSON nested too deep',
        400,
        'levels deep',
        `{"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": ${'['.repeat(60)}1${']'.repeat(60)}}]}`,
      ],
      [
        'an unknown datatype',
        400,
        'inputs.0.datatype must be one of',
        JSON.stringify({ inputs: [{ name: 'INPUT0', shape: [1], datatype: 'FLOAT', data: [1] }] }),
      ],
      [
        'a shape that does not match the data',
        400,
        'has 2 elements; shape [3] needs 3',
        JSON.stringify({ inputs: int64([1, 2]).map((t) => ({ ...t, shape: [3] })) }),
      ],
      ['an INT64 out of range', 400, 'is not a valid INT64', '{"inputs":[{"name":"INPUT0","shape":[1],"datatype":"INT64","data":[9223372036854775808]}]}'],
      ['an id that is not a string', 400, 'id must be a string', JSON.stringify({ id: 7, inputs: int64([1]) })],
    ])('answers %s with %i {error}', async (_case, status, message, body) => {
      expectError(await call('POST', '/v2/models/echo/infer', body), status, message);
    });

    const binaryInput = (size: number, shape = [2]) => ({ inputs: [{ name: 'INPUT0', shape, datatype: 'INT64', parameters: { binary_data_size: size } }] });
    it.each([
      [
        'a binary_data_size that does not fit the shape',
        binaryInput(12),
        [Buffer.alloc(12)],
        undefined,
        'inputs.0: binary_data_size is 12, but shape [2] of INT64 needs 16 bytes',
      ],
      [
        'sizes that leave bytes over',
        binaryInput(16),
        [Buffer.alloc(20)],
        undefined,
        "the binary data is 20 bytes, but the inputs' binary_data_size add up to 16",
      ],
      [
        'a size past the end of the bytes',
        binaryInput(16),
        [Buffer.alloc(8)],
        undefined,
        'binary_data_size 16 runs past the end of the binary data (8 bytes left)',
      ],
      [
        'both data and binary_data_size',
        { inputs: [{ ...binaryInput(8, [1]).inputs[0], data: [1] }] },
        [Buffer.alloc(8)],
        undefined,
        'has both data and parameters.binary_data_size',
      ],
      ['binary_data_size in a JSON body', binaryInput(16), [], 'none', 'has no binary data'],
      ['a header length past the body', binaryInput(16), [Buffer.alloc(16)], '99999', 'but the body has'],
      ['a raw binary body (header length 0)', binaryInput(16), [Buffer.alloc(16)], '0', 'raw binary body'],
    ])('answers a binary body with %s with 400 {error}', async (_case, header, chunks, headerLength, message) => {
      const before = strict.received.length;
      const answer =
        headerLength === 'none' ? await infer('/v2/models/echo/infer', header) : await inferBinary('/v2/models/echo/infer', header, chunks, headerLength);
      expectError(answer, 400, message);
      expect(strict.received.length).toBe(before);
    });

    it('answers 502 {error} when the model is down', async () => {
      expectError(await infer('/v2/models/down/infer', { inputs: int64([1]) }), 502, 'variant "v1" failed: model unreachable');
    });
  });

  describe("Triton's binary tensor extension", () => {
    it('forwards binary inputs to the model byte for byte, and answers the JSON outputs asked for', async () => {
      const bytes = int64Bytes(9007199254740993n, -1n, 7n);
      const header = { id: 'bin-in', inputs: [{ name: 'INPUT0', shape: [3], datatype: 'INT64', parameters: { binary_data_size: 24 } }] };
      const answer = await inferBinary('/v2/models/echo/infer', header, [bytes]);
      expect(answer.status).toBe(200);
      expect(answer.binary).toBeUndefined();
      expect(validators.responseProblems(header, answer.body)).toEqual([]);
      const got = strict.received.find((r) => (r.body as { id?: string } | undefined)?.id === 'bin-in')!;
      expect(got.binary).toEqual(bytes);
      expect(got.body).toMatchObject(header);
      expect(answer.text).toContain('"data":[9007199254740993,-1,7]');
    });

    it('answers binary outputs where asked, JSON where not, in one body (mixed), for binary and JSON inputs', async () => {
      const header = {
        id: 'bin-mixed',
        inputs: [{ name: 'INPUT0', shape: [2], datatype: 'INT64', parameters: { binary_data_size: 16 } }],
        outputs: [{ name: 'OUTPUT0', parameters: { binary_data: true } }, { name: 'OUTPUT1' }],
      };
      const answer = await inferBinary('/v2/models/echo/infer', header, [int64Bytes(4n, 5n)]);
      expect(answer.status).toBe(200);
      expect(validators.responseProblems(header, answer.body)).toEqual([]);
      expect(answer.body.outputs).toEqual([
        { name: 'OUTPUT0', shape: [2], datatype: 'INT64', parameters: { binary_data_size: 16 } },
        { name: 'OUTPUT1', shape: [2], datatype: 'INT64', data: [4, 5] },
      ]);
      expect(answer.binary).toEqual(int64Bytes(4n, 5n));
      const json = await infer('/v2/models/echo/infer', { inputs: int64([6]), parameters: { binary_data_output: true } });
      expect(json.status).toBe(200);
      expect(json.body.outputs).toEqual([
        { name: 'OUTPUT0', shape: [1], datatype: 'INT64', parameters: { binary_data_size: 8 } },
        { name: 'OUTPUT1', shape: [1], datatype: 'INT64', parameters: { binary_data_size: 8 } },
      ]);
      expect(json.binary).toEqual(int64Bytes(6n, 6n));
    });

    it('passes FP16, BF16 and length-prefixed BYTES through as bytes, which the model reads as the numbers and strings they are', async () => {
      const cases = [
        ['echo-fp16', 'FP16', Buffer.from(new Uint16Array([0x3800, 0xbd00]).buffer), [0.5, -1.25]],
        ['echo-bf16', 'BF16', Buffer.from(new Uint16Array([0x3f00, 0xbfa0]).buffer), [0.5, -1.25]],
        ['echo-bytes', 'BYTES', Buffer.concat([Buffer.from([2, 0, 0, 0]), Buffer.from('ab'), Buffer.from([3, 0, 0, 0]), Buffer.from('hé')]), ['ab', 'hé']],
      ] as const;
      for (const [model, datatype, bytes, data] of cases) {
        const input = { name: 'INPUT0', shape: [2], datatype, parameters: { binary_data_size: bytes.length } };
        const json = await inferBinary(`/v2/models/${model}/infer`, { inputs: [input] }, [bytes]);
        expect(json.status).toBe(200);
        expect(json.body.outputs[0].data).toEqual(data);
        const binary = await inferBinary(`/v2/models/${model}/infer`, { inputs: [input], parameters: { binary_data_output: true } }, [bytes]);
        expect(binary.status).toBe(200);
        expect(binary.binary).toEqual(bytes);
      }
    });

    it('takes a 224×224×3 FP32 image as binary data', async () => {
      const image = Buffer.alloc(224 * 224 * 3 * 4, 1);
      const header = { inputs: [{ name: 'image', shape: [1, 224, 224, 3], datatype: 'FP32', parameters: { binary_data_size: image.length } }] };
      const answer = await inferBinary('/v2/models/image/infer', header, [image]);
      expect(answer.status).toBe(200);
      expect(answer.body.outputs).toEqual([{ name: 'elements', shape: [1], datatype: 'INT64', data: [224 * 224 * 3] }]);
    });

    it('mirrors binary inputs to shadows; events carry the scored output decoded and the others by digest', async () => {
      const bytes = int64Bytes(8n, 9n);
      const header = {
        id: 'mirror-bin',
        inputs: [{ name: 'INPUT0', shape: [2], datatype: 'INT64', parameters: { binary_data_size: 16 } }],
        parameters: { binary_data_output: true },
      };
      const answer = await inferBinary('/v2/models/mirror/infer', header, [bytes]);
      expect(answer.status).toBe(200);
      expect(answer.binary).toEqual(Buffer.concat([bytes, bytes]));
      const shadow = await waitFor(() => shadowPredictions.messages.find((m) => m.key === 'mirror-bin'), { what: 'the shadow prediction' });
      expect(shadow.value).toMatchObject({ variant: 'shadow', agreesWithPrimary: true });
      const primary = await waitFor(() => predictions.messages.find((m) => m.key === 'mirror-bin'), { what: 'the prediction event' });
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      for (const event of [primary.value, shadow.value] as { outputs: unknown }[]) {
        expect(event.outputs).toEqual([
          { name: 'OUTPUT0', shape: [2], datatype: 'INT64', parameters: { binary_data_size: 16, binary_data_sha256: sha256 } },
          { name: 'OUTPUT1', shape: [2], datatype: 'INT64', data: [8, 9] },
        ]);
      }
      const calls = strict.received.filter((r) => (r.body as { id?: string } | undefined)?.id === 'mirror-bin');
      expect(calls).toHaveLength(2);
      for (const call of calls) expect(call.binary).toEqual(bytes);
    });
  });

  describe('shadows', () => {
    it("get the request the primary got, and agreement is computed on the reward's named tensor whatever the client selected", async () => {
      const request = { id: 'mirror-1', parameters: { trace: 'abc' }, inputs: int64([4, 2]), outputs: [{ name: 'OUTPUT0' }] };
      const answer = await infer('/v2/models/mirror/infer', request);
      expect(answer.status).toBe(200);
      // The client gets what it asked for; the model was asked for the reward's tensor (OUTPUT1) too.
      expect(answer.body.outputs.map((o: { name: string }) => o.name)).toEqual(['OUTPUT0']);
      const shadow = await waitFor(() => shadowPredictions.messages.find((m) => m.key === 'mirror-1'), { what: 'the shadow prediction' });
      expect(shadow.value).toMatchObject({ variant: 'shadow', agreesWithPrimary: true });
      const calls = strict.received.filter((r) => (r.body as { id?: string } | undefined)?.id === 'mirror-1');
      expect(calls.map((r) => r.url).sort()).toEqual(['/v2/models/echo-int64/versions/1/infer', '/v2/models/echo-int64/versions/2/infer']);
      for (const call of calls) {
        expect(call.body).toMatchObject({ parameters: { trace: 'abc' }, outputs: [{ name: 'OUTPUT0' }, { name: 'OUTPUT1' }], inputs: request.inputs });
      }
    });
  });

  describe('the demo model server', () => {
    it('answers metadata, readiness and inference in the spec’s bodies', async () => {
      const get = async (path: string) => (await fetch(`${modelServer.url}${path}`)).json();
      expect(validators.problems('metadata_server_response', await get('/v2'))).toEqual([]);
      expect(validators.problems('metadata_model_response', await get('/v2/models/churn-v1'))).toEqual([]);
      expect(validators.problems('ready_model_response', await get('/v2/models/churn-v1/ready'))).toEqual([]);
      const request = { id: 'demo 1', model_name: 'churn-v1', inputs: toInferInputs([0.1, 0.2, 0.3, 0.4]), outputs: [{ name: 'score' }] };
      const answer = await http('POST', `${modelServer.url}/v2/models/churn-v1/infer`, request);
      expect(answer.status).toBe(200);
      expect(validators.responseProblems(request, answer.body)).toEqual([]);
      const error = await http('POST', `${modelServer.url}/v2/models/churn-v1/infer`, { inputs: 'x' });
      expect(error.status).toBe(400);
      expect(validators.problems('inference_error_response', error.body)).toEqual([]);
      // As tritonclient sends it: no Content-Type.
      const bare = await fetch(`${modelServer.url}/v2/models/churn-v1/infer`, { method: 'POST', body: Buffer.from(JSON.stringify(request)) });
      expect(bare.status).toBe(200);
      const broken = await fetch(`${modelServer.url}/v2/models/churn-v1/infer`, { method: 'POST', body: Buffer.from('{"inputs": [') });
      expect(broken.status).toBe(400);
      expect(validators.problems('inference_error_response', await broken.json())).toEqual([]);
    });

    it('serves the gRPC service: health, metadata, inference with typed and raw contents, errors as statuses', async () => {
      const client = tritonLikeClient(modelServer.app.get(InferenceGrpcServer).port!);
      try {
        expect((await client.call('ServerLive', {})).answer).toEqual({ live: true });
        expect((await client.call('ServerReady', {})).answer).toEqual({ ready: true });
        expect(validators.problems('metadata_server_response', (await client.call('ServerMetadata', {})).answer)).toEqual([]);
        expect((await client.call('ModelReady', { name: 'churn-v1', version: '1' })).answer).toEqual({ ready: true });
        const metadata = (await client.call<{ inputs: { shape: string[] }[]; outputs: { shape: string[] }[] }>('ModelMetadata', { name: 'churn-v1' })).answer!;
        // The proto's int64 shapes arrive as decimal strings: as numbers, the answer is REST's metadata body.
        const shapes = (tensors: { shape: string[] }[]) => tensors.map((tensor) => ({ ...tensor, shape: tensor.shape.map(Number) }));
        expect(validators.problems('metadata_model_response', { ...metadata, inputs: shapes(metadata.inputs), outputs: shapes(metadata.outputs) })).toEqual([]);

        const rows = [
          [0.1, 0.2, 0.3, 0.4],
          [0.9, 0.1, 0.5, 0.7],
        ];
        const request: OipInferRequest = { id: 'demo grpc', inputs: toInferInputs(rows), outputs: [{ name: 'label' }, { name: 'score' }] };
        const typed = inferRequestToGrpc('churn-v1', '1', request);
        const typedAnswer = await client.call<GrpcInferResponse>('ModelInfer', typed);
        expect(typedAnswer.error).toBeUndefined();
        expect(typedAnswer.answer!.raw_output_contents).toEqual([]);
        const response = inferResponseFromGrpc(typedAnswer.answer!);
        expect(validators.responseProblems(request, response)).toEqual([]);
        const model = findDemoModel('churn-v1')!;
        expect(response.outputs).toEqual([
          { name: 'label', datatype: 'INT64', shape: [2], data: rows.map((row) => predict(model, row.map(Math.fround)).label) },
          // FP32 on the wire: the model's score rounded to float32; FP32 features too.
          { name: 'score', datatype: 'FP32', shape: [2], data: rows.map((row) => Math.fround(predict(model, row.map(Math.fround)).score)) },
        ]);
        // Raw contents in, raw contents out (as Triton answers), the same tensors.
        const raw: GrpcInferRequest = {
          ...typed,
          inputs: typed.inputs.map(({ contents: _, ...tensor }) => tensor),
          raw_input_contents: [encodeRaw('FP32', rows.flat())],
        };
        const rawAnswer = await client.call<GrpcInferResponse>('ModelInfer', raw);
        expect(rawAnswer.answer!.raw_output_contents).toHaveLength(2);
        expect(inferResponseFromGrpc(rawAnswer.answer!)).toEqual(response);

        const expectStatus = (error: grpc.ServiceError | undefined, code: grpc.status, message: RegExp) => {
          expect(error && grpc.status[error.code]).toBe(grpc.status[code]);
          expect(error!.details).toMatch(message);
        };
        expectStatus((await client.call('ModelReady', { name: 'churn-v9' })).error, grpc.status.NOT_FOUND, /"churn-v9" is not served here/);
        expectStatus((await client.call('ModelInfer', { ...typed, model_version: '7' })).error, grpc.status.NOT_FOUND, /no version "7"/);
        const short = { ...raw, raw_input_contents: [encodeRaw('FP32', [1, 2, 3])] };
        expectStatus((await client.call('ModelInfer', short)).error, grpc.status.INVALID_ARGUMENT, /needs 32 bytes of raw contents; 12 were sent/);
        const wrongShape = inferRequestToGrpc('churn-v1', undefined, { inputs: [{ ...toInferInputs(rows)[0], shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }] });
        expectStatus((await client.call('ModelInfer', wrongShape)).error, grpc.status.INVALID_ARGUMENT, /features/);
        expectStatus((await client.call('ModelInfer', { ...typed, model_name: 'churn-broken' })).error, grpc.status.INTERNAL, /churn-broken always fails/);
      } finally {
        client.close();
      }
    });

    it('answers through the router as a grpc variant, to the router’s REST and gRPC clients alike', async () => {
      const row = [0.3, 0.6, 0.2, 0.8];
      const model = findDemoModel('churn-v1')!;
      const expected = predict(model, row.map(Math.fround));
      const request = { id: 'via router', inputs: toInferInputs(row) };
      const rest = await infer('/v2/models/churn-grpc/infer', request);
      expect(rest.status).toBe(200);
      expect(validators.responseProblems(request, rest.body)).toEqual([]);
      expect(rest.body).toMatchObject({
        model_name: 'churn-grpc',
        model_version: 'g1',
        outputs: [{ name: 'label', data: [expected.label] }, { name: 'score' }],
      });
      expect(rest.body.outputs[1].data[0]).toBe(Math.fround(expected.score));

      const client = tritonLikeClient(router.app.get(OipGrpcServer).port!);
      try {
        const typed = inferRequestToGrpc('churn-grpc', undefined, { ...request, id: 'via router grpc' });
        const raw = { ...typed, inputs: typed.inputs.map(({ contents: _, ...tensor }) => tensor), raw_input_contents: [encodeRaw('FP32', row)] };
        const answer = await client.call<GrpcInferResponse>('ModelInfer', raw);
        expect(answer.error).toBeUndefined();
        expect(answer.answer!.raw_output_contents).toHaveLength(2);
        const response = inferResponseFromGrpc(answer.answer!);
        expect(validators.responseProblems({ id: 'via router grpc' }, response)).toEqual([]);
        expect(response.outputs.map((output) => output.data)).toEqual(rest.body.outputs.map((output: { data: unknown[] }) => output.data));
        expect(answer.headers?.get('x-request-id')[0]).toMatch(/^oip-[0-9a-f]{32}$/);
      } finally {
        client.close();
      }
    });
  });
});
