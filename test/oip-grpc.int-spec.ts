import * as grpc from '@grpc/grpc-js';
import { ExactInteger, GrpcInferRequest, GrpcInferResponse, inferResponseFromGrpc } from '@switchyard/contracts';
import { OipGrpcServer } from '../apps/router/src/oip/oip-grpc';
import { routerService } from '../apps/router/src/router.service-definition';
import { shadowWorkerService } from '../apps/shadow-worker/src/shadow-worker.service-definition';
import { OipValidators } from '../libs/contracts/oip/validators';
import { isolation } from './support/kafka';
import { tritonLikeClient } from './support/oip-grpc-client';
import { startStrictGrpcServer, StrictGrpcModel, StrictGrpcServer } from './support/oip-strict-grpc-server';
import { startStrictServer, StrictServer } from './support/oip-strict-server';
import { http, RunningService } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

const ECHO = { versions: ['1', '2'], input: { name: 'INPUT0', datatype: 'INT64' as const, shape: [-1] }, outputs: ['OUTPUT0', 'OUTPUT1'] };
const MODELS: StrictGrpcModel[] = [
  { name: 'echo-int64', ...ECHO },
  { name: 'echo-fp16', versions: ['1'], input: { name: 'INPUT0', datatype: 'FP16', shape: [-1] }, outputs: ['OUTPUT0'] },
  { name: 'echo-fp32', versions: ['1'], input: { name: 'INPUT0', datatype: 'FP32', shape: [-1] }, outputs: ['OUTPUT0'] },
  { name: 'slow', ...ECHO, delayMs: 3000 },
  { name: 'draining', ...ECHO, delayMs: 800 },
  { name: 'broken', ...ECHO, fails: true },
];

const int64 = (data: (number | string)[]) => ({ name: 'INPUT0', datatype: 'INT64', shape: [data.length], contents: { int64_contents: data } });

/**
 * The Open Inference Protocol over gRPC: the router's inference.GRPCInferenceService
 * (GRPC_PORT) called as tritonclient.grpc calls Triton, in front of REST and gRPC variants,
 * and `protocol: "grpc"` variants behind every strategy, checked by a strict gRPC model
 * server written from the proto (test/support/oip-strict-grpc-server.ts).
 */
describe('Open Inference Protocol over gRPC: the router as a server and gRPC variants', () => {
  const ids = isolation('oip-grpc');
  const stack = useStack({
    ids,
    services: {
      router: [
        routerService,
        { KAFKA_INGRESS: 'false', GRPC_PORT: '0', V2_MAX_BODY_BYTES: String(1024 * 1024), FEEDBACK_TOKEN_SECRET: 'grpc-token-secret-0123456789' },
      ],
      shadowWorker: [shadowWorkerService, { SHADOW_GROUP: `shadow-${ids.groupSuffix}` }],
    },
    collect: { predictions: 'predictions', shadowPredictions: 'shadowPredictions' },
  });
  const { router, predictions, shadowPredictions } = stack;
  const validators = new OipValidators();
  let strictGrpc: StrictGrpcServer;
  let strictRest: StrictServer;
  let client: ReturnType<typeof tritonLikeClient>;

  const grpcVariant = (name: string, model: string, extra: object = {}) => ({ name, url: strictGrpc.url, model, protocol: 'grpc', timeoutMs: 2000, ...extra });
  const put = async (name: string, spec: object, query = '') =>
    expect((await http('PUT', `${router.url}/v1/deployments/${name}${query}`, spec)).status).toBe(200);
  const infer = (request: Partial<GrpcInferRequest>) => client.call<GrpcInferResponse>('ModelInfer', request);
  const restInfer = (name: string, body: object) => http('POST', `${router.url}/v2/models/${name}/infer`, body);
  const expectStatus = (error: grpc.ServiceError | undefined, code: grpc.status, message: string | RegExp) => {
    expect(error && grpc.status[error.code]).toBe(grpc.status[code]);
    expect(error!.details).toMatch(message);
  };
  const callsWithId = (id: string) => strictGrpc.received.filter((call) => (call.request as { id?: string } | undefined)?.id === id);

  beforeAll(async () => {
    strictGrpc = await startStrictGrpcServer(MODELS, validators);
    strictRest = await startStrictServer([{ name: 'echo-int64', ...ECHO }], validators);
    client = tritonLikeClient(router.app.get(OipGrpcServer).port!);
    await put('rest-echo', {
      variants: [{ name: 'v1', url: strictRest.url, model: 'echo-int64', modelVersion: '1' }],
      strategy: { type: 'single', variant: 'v1' },
    });
    await put('rest-tokened', {
      variants: [{ name: 'v1', url: strictRest.url, model: 'echo-int64', modelVersion: '1' }],
      strategy: { type: 'single', variant: 'v1' },
      feedback: { requireToken: true },
    });
    await put('grpc-echo', {
      variants: [grpcVariant('v1', 'echo-int64', { modelVersion: '1' }), grpcVariant('fp16', 'echo-fp16'), grpcVariant('fp32', 'echo-fp32')],
      strategy: { type: 'single', variant: 'v1' },
    });
    await put('grpc-canary', {
      variants: [grpcVariant('p', 'echo-int64', { modelVersion: '1' }), grpcVariant('c', 'echo-int64', { modelVersion: '2' })],
      strategy: { type: 'canary', primary: 'p', canary: 'c', percent: 100 },
    });
    await put('grpc-timeout', {
      variants: [grpcVariant('p', 'echo-int64'), grpcVariant('slow', 'slow', { timeoutMs: 300 })],
      strategy: { type: 'canary', primary: 'p', canary: 'slow', percent: 100 },
    });
    await put('grpc-broken', {
      variants: [grpcVariant('p', 'echo-int64'), grpcVariant('broken', 'broken')],
      strategy: { type: 'canary', primary: 'p', canary: 'broken', percent: 100 },
    });
    await put('grpc-shadow', {
      variants: [grpcVariant('primary', 'echo-int64', { modelVersion: '1' }), grpcVariant('shadow', 'echo-int64', { modelVersion: '2' })],
      strategy: { type: 'shadow', primary: 'primary', shadows: ['shadow'] },
      reward: { type: 'match', outputPath: 'OUTPUT1.data.0' },
    });
    // Down on purpose: force skips the readiness probe that would refuse it (422).
    await put(
      'grpc-down',
      { variants: [grpcVariant('v1', 'echo-int64', { url: 'http://127.0.0.1:9', timeoutMs: 500 })], strategy: { type: 'single', variant: 'v1' } },
      '?force=true',
    );
    await put('grpc-draining', { variants: [grpcVariant('v1', 'draining', { timeoutMs: 10_000 })], strategy: { type: 'single', variant: 'v1' } });
  });

  afterAll(async () => {
    client?.close();
    await strictGrpc?.close();
    await strictRest?.close();
  });

  afterEach(() => {
    expect(strictGrpc.ownProblems).toEqual([]);
    expect(strictRest.ownProblems).toEqual([]);
  });

  describe('health and metadata RPCs', () => {
    it('answers ServerLive, ServerReady and ServerMetadata', async () => {
      expect((await client.call('ServerLive', {})).answer).toEqual({ live: true });
      expect((await client.call('ServerReady', {})).answer).toEqual({ ready: true });
      // The same server metadata as REST's GET /v2, extensions included (as Triton answers both).
      const rest = await http('GET', `${router.url}/v2`);
      expect((await client.call('ServerMetadata', {})).answer).toEqual({ name: 'switchyard', version: '2', extensions: rest.body.extensions });
      expect(rest.body.extensions).toContain('binary_tensor_data');
    });

    it('answers ModelReady: ready, not ready (the variant is down), NOT_FOUND for an unknown model or version', async () => {
      expect((await client.call('ModelReady', { name: 'grpc-echo' })).answer).toEqual({ ready: true });
      expect((await client.call('ModelReady', { name: 'rest-echo', version: 'v1' })).answer).toEqual({ ready: true });
      expect((await client.call('ModelReady', { name: 'grpc-down' })).answer).toEqual({ ready: false });
      expectStatus((await client.call('ModelReady', { name: 'nope' })).error, grpc.status.NOT_FOUND, 'model "nope" does not exist');
      expectStatus(
        (await client.call('ModelReady', { name: 'grpc-echo', version: 'v9' })).error,
        grpc.status.NOT_FOUND,
        'model "grpc-echo" has no version "v9"',
      );
    });

    it("answers ModelMetadata with the variants as versions and the serving variant's tensors, read over gRPC from a grpc variant", async () => {
      const { answer } = await client.call<Record<string, unknown>>('ModelMetadata', { name: 'grpc-echo' });
      expect(answer).toMatchObject({
        name: 'grpc-echo',
        versions: ['v1', 'fp16', 'fp32'],
        platform: 'switchyard',
        inputs: [{ name: 'INPUT0', datatype: 'INT64', shape: ['-1'] }],
      });
      expect(strictGrpc.received.some((call) => call.rpc === 'ModelMetadata' && (call.request as { version: string }).version === '1')).toBe(true);
      const rest = await client.call<Record<string, unknown>>('ModelMetadata', { name: 'rest-echo', version: 'v1' });
      expect(rest.answer).toMatchObject({ versions: ['v1'], outputs: [{ name: 'OUTPUT0' }, { name: 'OUTPUT1' }] });
    });
  });

  describe('ModelInfer on the router', () => {
    it('takes typed contents in front of a REST variant, 64-bit integers exact, and names the request id for feedback', async () => {
      const { answer, error, headers } = await infer({
        model_name: 'rest-echo',
        id: 'g-typed 1',
        inputs: [int64(['9007199254740993', '-1'])],
        outputs: [{ name: 'OUTPUT1' }],
      });
      expect(error).toBeUndefined();
      expect(answer!.raw_output_contents).toEqual([]);
      const body = inferResponseFromGrpc(answer!);
      expect(body).toMatchObject({ model_name: 'rest-echo', model_version: 'v1', id: 'g-typed 1', parameters: { strict_version: '1' } });
      expect(body.outputs).toEqual([{ name: 'OUTPUT1', datatype: 'INT64', shape: [2], data: [new ExactInteger('9007199254740993'), -1] }]);
      expect(answer!.outputs[0].contents!.int64_contents).toEqual(['9007199254740993', '-1']);
      const requestId = headers!.get('x-request-id')[0] as string;
      expect(requestId).toMatch(/^oip-[0-9a-f]{32}$/);
      await waitFor(() => predictions.messages.find((m) => m.key === requestId), { what: 'the prediction event of the gRPC request' });
      expect(strictRest.received.at(-1)!.body).toMatchObject({
        inputs: [{ data: [new ExactInteger('9007199254740993'), -1] }],
        outputs: [{ name: 'OUTPUT1' }],
      });
    });

    it("answers a deployment with feedback.requireToken with the token in the response's parameters, which feedback then presents", async () => {
      const { answer, error, headers } = await infer({ model_name: 'rest-tokened', inputs: [int64(['1'])] });
      expect(error).toBeUndefined();
      const feedbackToken = inferResponseFromGrpc(answer!).parameters?.feedbackToken;
      expect(feedbackToken).toMatch(/^v1\.1\.[A-Za-z0-9_-]{22}$/);
      const requestId = headers!.get('x-request-id')[0] as string;
      const labelled = await http('POST', `${router.url}/v1/feedback`, { requestId, deployment: 'rest-tokened', label: 1, feedbackToken });
      expect(labelled.status).toBe(202);
    });

    it('takes raw contents and answers raw, FP32 and FP16 alike, through a grpc variant', async () => {
      const fp32 = Buffer.alloc(8);
      fp32.writeFloatLE(0.5, 0);
      fp32.writeFloatLE(-2.25, 4);
      const raw = await infer({
        model_name: 'grpc-echo',
        model_version: 'fp32',
        inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: ['2'] }],
        raw_input_contents: [fp32],
      });
      expect(raw.error).toBeUndefined();
      expect(raw.answer!.raw_output_contents).toEqual([fp32]);
      expect(raw.answer!.outputs[0]).toMatchObject({ name: 'OUTPUT0', datatype: 'FP32', shape: ['2'] });
      // FP16 can only travel raw: the router sent it raw to the variant, which answered raw.
      const half = Buffer.from([0x00, 0x3c, 0x00, 0xb8]); // 1, -0.5
      const fp16 = await infer({
        model_name: 'grpc-echo',
        model_version: 'fp16',
        inputs: [{ name: 'INPUT0', datatype: 'FP16', shape: ['2'] }],
        raw_input_contents: [half],
      });
      expect(fp16.answer!.raw_output_contents).toEqual([half]);
      expect(strictGrpc.received.filter((call) => call.rpc === 'ModelInfer').at(-1)).toMatchObject({ raw: true, request: { inputs: [{ data: [1, -0.5] }] } });
    });

    it('fails as the REST route does, with its message: INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE', async () => {
      const shapeMismatch = { ...int64(['1', '2']), shape: ['3'] };
      const rest = await restInfer('grpc-echo', { inputs: [{ name: 'INPUT0', datatype: 'INT64', shape: [3], data: [1, 2] }] });
      expect(rest.status).toBe(400);
      expectStatus((await infer({ model_name: 'grpc-echo', inputs: [shapeMismatch] })).error, grpc.status.INVALID_ARGUMENT, rest.body.error);
      expectStatus(
        (await infer({ model_name: 'grpc-echo', inputs: [{ name: 'INPUT0', datatype: 'INT64', shape: ['2'] }], raw_input_contents: [Buffer.alloc(15)] })).error,
        grpc.status.INVALID_ARGUMENT,
        'invalid inference request: inputs.0 (INT64, shape [2]) needs 16 bytes of raw contents; 15 were sent',
      );
      expectStatus((await infer({ model_name: 'Churn.V1', inputs: [int64(['1'])] })).error, grpc.status.NOT_FOUND, 'model "Churn.V1" does not exist');
      const down = await restInfer('grpc-down', { inputs: [{ name: 'INPUT0', datatype: 'INT64', shape: [1], data: [1] }] });
      expect(down).toMatchObject({ status: 502, body: { error: 'variant "v1" failed: model unreachable: gRPC UNAVAILABLE' } });
      expectStatus((await infer({ model_name: 'grpc-down', inputs: [int64(['1'])] })).error, grpc.status.UNAVAILABLE, down.body.error);
      // A grpc model's INVALID_ARGUMENT reaches the client with the model's own message.
      const rejected = await infer({ model_name: 'grpc-echo', inputs: [{ ...int64(['1']), name: 'WRONG' }] });
      expectStatus(
        rejected.error,
        grpc.status.INVALID_ARGUMENT,
        'variant "v1" rejected the inputs (model rejected the request (gRPC INVALID_ARGUMENT)): model echo-int64 takes one input, INPUT0',
      );
    });

    it('refuses an id used before with ALREADY_EXISTS, a call from a router with FAILED_PRECONDITION, and a message past V2_MAX_BODY_BYTES with RESOURCE_EXHAUSTED', async () => {
      expect((await infer({ model_name: 'grpc-echo', id: 'dup-1', inputs: [int64(['1'])] })).error).toBeUndefined();
      expectStatus(
        (await infer({ model_name: 'grpc-echo', id: 'dup-1', inputs: [int64(['1'])] })).error,
        grpc.status.ALREADY_EXISTS,
        'requestId "dup-1" was already used for deployment "grpc-echo"',
      );
      const hop = new grpc.Metadata();
      hop.set('switchyard-hop', '1');
      expectStatus(
        (await client.call('ModelInfer', { model_name: 'grpc-echo', inputs: [int64(['1'])] }, hop)).error,
        grpc.status.FAILED_PRECONDITION,
        'this request came from a router (switchyard-hop header)',
      );
      const large = {
        model_name: 'grpc-echo',
        inputs: [{ name: 'INPUT0', datatype: 'INT64', shape: [String(140_000)] }],
        raw_input_contents: [Buffer.alloc(8 * 140_000)],
      };
      expect((await infer(large)).error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    });

    it('counts its calls by RPC and status', async () => {
      const metrics = await (await fetch(`${router.url}/metrics`)).text();
      expect(metrics).toMatch(/switchyard_router_grpc_calls_total\{rpc="ModelInfer",code="OK"[^}]*\} [1-9]/);
      expect(metrics).toMatch(/switchyard_router_grpc_calls_total\{rpc="ModelInfer",code="INVALID_ARGUMENT"[^}]*\} [1-9]/);
    });
  });

  describe('grpc variants behind every strategy', () => {
    it('a canary over gRPC answers, its pinned model version called, over REST and gRPC ingress alike', async () => {
      const rest = await http('POST', `${router.url}/v2/models/grpc-canary/infer`, {
        id: 'canary-rest',
        inputs: [{ name: 'INPUT0', datatype: 'INT64', shape: [1], data: [7] }],
      });
      expect(rest.status).toBe(200);
      expect(validators.responseProblems({ id: 'canary-rest' }, rest.body)).toEqual([]);
      expect(rest.body).toMatchObject({
        model_version: 'c',
        parameters: { strict_version: '2' },
        outputs: [
          { name: 'OUTPUT0', data: [7] },
          { name: 'OUTPUT1', data: [7] },
        ],
      });
      expect(callsWithId('canary-rest')).toMatchObject([{ rpc: 'ModelInfer', raw: false }]);
      const viaGrpc = await infer({ model_name: 'grpc-canary', id: 'canary-grpc', inputs: [int64(['8'])] });
      expect(viaGrpc.answer).toMatchObject({ model_version: 'c' });
      const event = await waitFor(() => predictions.messages.find((m) => m.key === 'canary-grpc'), { what: 'the canary prediction' });
      expect(event.value).toMatchObject({ variant: 'c', role: 'served', strategy: 'canary' });
      const v1 = await http('POST', `${router.url}/v1/deployments/grpc-canary/predict`, {
        requestId: 'canary-v1',
        inputs: [{ name: 'INPUT0', datatype: 'INT64', shape: [1], data: [9] }],
      });
      expect(v1).toMatchObject({
        status: 200,
        body: {
          variant: 'c',
          outputs: [
            { name: 'OUTPUT0', data: [9] },
            { name: 'OUTPUT1', data: [9] },
          ],
        },
      });
    });

    it('a grpc canary past its timeout (the call deadline) or failing is answered by the primary, and counted against it', async () => {
      for (const [deployment, canary, error] of [
        ['grpc-timeout', 'slow', 'timeout: model did not answer within 300 ms'],
        ['grpc-broken', 'broken', 'server-error: model answered gRPC INTERNAL'],
      ]) {
        const id = `fallback-${deployment}`;
        const { answer } = await infer({ model_name: deployment, id, inputs: [int64(['1'])] });
        expect(answer).toMatchObject({ model_version: 'p' });
        const event = await waitFor(() => predictions.messages.find((m) => m.key === id), { what: `the prediction of ${deployment}` });
        expect(event.value).toMatchObject({ variant: 'p', fallbackFrom: canary });
        expect(callsWithId(id).map((call) => call.rpc)).toEqual(['ModelInfer', 'ModelInfer']);
        const metrics = await (await fetch(`${router.url}/metrics`)).text();
        expect(metrics).toContain(`switchyard_router_model_errors_total{deployment="${deployment}",variant="${canary}",kind="${error.split(':')[0]}"`);
      }
    });

    it('shadows over gRPC get the request the primary got, and agree on the reward’s tensor', async () => {
      const request = {
        model_name: 'grpc-shadow',
        id: 'mirror-g',
        parameters: { trace: { string_param: 'abc' } },
        inputs: [int64(['4', '2'])],
        outputs: [{ name: 'OUTPUT0' }],
      };
      const { answer } = await infer(request);
      expect(answer!.outputs.map((o) => o.name)).toEqual(['OUTPUT0']);
      const shadow = await waitFor(() => shadowPredictions.messages.find((m) => m.key === 'mirror-g'), { what: 'the shadow prediction' });
      expect(shadow.value).toMatchObject({ variant: 'shadow', agreesWithPrimary: true });
      const calls = callsWithId('mirror-g');
      expect(calls).toHaveLength(2);
      for (const call of calls) {
        expect(call.request).toMatchObject({ parameters: { trace: 'abc' }, outputs: [{ name: 'OUTPUT0' }, { name: 'OUTPUT1' }], inputs: [{ data: [4, 2] }] });
      }
      expect(calls.map((call) => call.metadata['switchyard-hop'])).toEqual(['1', '1']);
    });
  });

  describe('shutdown', () => {
    let second: RunningService;

    it('finishes the gRPC calls in flight before the router stops', async () => {
      second = await stack.start(routerService, { KAFKA_INGRESS: 'false', GRPC_PORT: '0' });
      const own = tritonLikeClient(second.app.get(OipGrpcServer).port!);
      await waitFor(async () => (await own.call<{ ready: boolean }>('ModelReady', { name: 'grpc-draining' })).answer?.ready, {
        what: 'the second router to know the deployment',
      });
      const pending = own.call<GrpcInferResponse>('ModelInfer', { model_name: 'grpc-draining', id: 'drain-1', inputs: [int64(['3'])] });
      await waitFor(() => callsWithId('drain-1').length, { what: 'the call to reach the model' });
      await second.close();
      const { answer, error } = await pending;
      expect(error).toBeUndefined();
      expect(answer).toMatchObject({ model_name: 'grpc-draining', id: 'drain-1' });
      expect((await own.call('ServerLive', {})).error?.code).toBe(grpc.status.UNAVAILABLE);
      own.close();
    });
  });
});
