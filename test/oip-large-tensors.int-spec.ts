import { GrpcInferResponse, MAX_EVENT_BYTES } from '@switchyard/contracts';
import { OipGrpcServer } from '../apps/router/src/oip/oip-grpc';
import { routerService } from '../apps/router/src/router.service-definition';
import { OipValidators } from '../libs/contracts/oip/validators';
import { isolation } from './support/kafka';
import { tritonLikeClient } from './support/oip-grpc-client';
import { startStrictGrpcServer, StrictGrpcServer } from './support/oip-strict-grpc-server';
import { startStrictServer, StrictServer } from './support/oip-strict-server';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

const FP32 = { name: 'echo-fp32', versions: ['1'], input: { name: 'INPUT0', datatype: 'FP32' as const, shape: [-1] }, outputs: ['OUTPUT0', 'OUTPUT1'] };
/** A 1 MiB FP32 tensor: 262144 elements, values short as JSON (a 224×224×3 image is 1.2 times it). */
const ELEMENTS = 262_144;
const values = Array.from({ length: ELEMENTS }, (_, i) => (i % 16) / 4);
const digest = expect.stringMatching(/^[0-9a-f]{64}$/);
const summarized = (name: string) => ({
  name,
  datatype: 'FP32',
  shape: [ELEMENTS],
  parameters: { binary_data_size: ELEMENTS * 4, binary_data_sha256: digest },
});

/**
 * Large tensors never break the event path: a router in the default (durable) publish mode
 * answers a 1 MiB FP32 tensor over gRPC (raw contents) and over REST (JSON), and records
 * its prediction in an event under Kafka's record limit, the tensors summarized by digest.
 */
describe('large tensors through a durable router', () => {
  const ids = isolation('oip-large');
  const stack = useStack({
    ids,
    services: { router: [routerService, { KAFKA_INGRESS: 'false', GRPC_PORT: '0' }] },
    collect: { predictions: 'predictions' },
  });
  const { router, predictions } = stack;
  let strictGrpc: StrictGrpcServer;
  let strictRest: StrictServer;
  let client: ReturnType<typeof tritonLikeClient>;

  const put = async (name: string, spec: object) => expect((await http('PUT', `${router.url}/v1/deployments/${name}`, spec)).status).toBe(200);
  const eventOf = (requestId: string) => waitFor(() => predictions.messages.find((m) => m.key === requestId), { what: `the prediction event of ${requestId}` });

  beforeAll(async () => {
    const validators = new OipValidators();
    strictGrpc = await startStrictGrpcServer([FP32], validators);
    strictRest = await startStrictServer([FP32], validators);
    client = tritonLikeClient(router.app.get(OipGrpcServer).port!);
    await put('big-grpc', {
      variants: [{ name: 'v1', url: strictGrpc.url, model: 'echo-fp32', protocol: 'grpc', timeoutMs: 20_000 }],
      strategy: { type: 'single', variant: 'v1' },
    });
    await put('big-rest', {
      variants: [{ name: 'v1', url: strictRest.url, model: 'echo-fp32', timeoutMs: 20_000 }],
      strategy: { type: 'single', variant: 'v1' },
    });
  });

  afterAll(async () => {
    client?.close();
    await strictGrpc?.close();
    await strictRest?.close();
  });

  it('answers 1 MiB of FP32 raw contents over gRPC with the same bytes, and records it under the record limit', async () => {
    const bytes = Buffer.from(new Float32Array(values).buffer);
    const { answer, error, headers } = await client.call<GrpcInferResponse>('ModelInfer', {
      model_name: 'big-grpc',
      inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [ELEMENTS] }],
      raw_input_contents: [bytes],
    });

    expect(error).toBeUndefined();
    expect(answer!.raw_output_contents).toHaveLength(2);
    expect(answer!.raw_output_contents!.every((output) => output.equals(bytes))).toBe(true);
    const event = await eventOf(headers!.get('x-request-id')[0] as string);
    expect(event.raw!.length).toBeLessThan(MAX_EVENT_BYTES);
    expect(event.value).toMatchObject({ variant: 'v1', outputs: [summarized('OUTPUT0'), summarized('OUTPUT1')] });
    expect(event.value.outputsTrimmed).toBeUndefined();
  });

  it('answers a 1 MiB FP32 tensor as JSON over REST /v2 and /v1, and records each under the record limit', async () => {
    const tensor = { name: 'INPUT0', datatype: 'FP32', shape: [ELEMENTS], data: values };
    const v2 = await http('POST', `${router.url}/v2/models/big-rest/infer`, { id: 'big-json-v2', inputs: [tensor] });
    expect(v2.status).toBe(200);
    expect(v2.body.outputs[0].data).toHaveLength(ELEMENTS);
    // /v1 bodies stay under MAX_BODY_BYTES (1 MiB): the same tensor of 0s and 1s, 2 characters each; the model's two echoes still pass a record's size.
    const bits = { ...tensor, data: values.map((_, i) => i % 2) };
    const v1 = await http('POST', `${router.url}/v1/deployments/big-rest/predict`, { requestId: 'big-json-v1', inputs: [bits] });
    expect(v1.status).toBe(200);

    for (const requestId of ['big-json-v2', 'big-json-v1']) {
      const event = await eventOf(requestId);
      expect(event.raw!.length).toBeLessThan(MAX_EVENT_BYTES);
      expect(event.value.outputs).toEqual([summarized('OUTPUT0'), summarized('OUTPUT1')]);
    }
    // The same tensor has the same digest, whether it came as JSON or as bytes.
    const [json] = (await eventOf('big-json-v2')).value.outputs;
    const grpc = predictions.messages.find((m) => m.value?.deployment === 'big-grpc');
    expect(json.parameters.binary_data_sha256).toBe(grpc!.value.outputs[0].parameters.binary_data_sha256);
  });

  it('answers concurrent 1 MiB binary requests over REST /v2 each with its own bytes (bodies read into reused buffers)', async () => {
    // Rounds of concurrent requests, every tensor different: a buffer given back too early,
    // or holding two bodies at once, would answer one request with another's bytes.
    const tensor = (k: number) => Buffer.from(new Float32Array(ELEMENTS).fill(k + 0.5).buffer);
    const send = async (bytes: Buffer) => {
      const header = Buffer.from(
        JSON.stringify({
          inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [ELEMENTS], parameters: { binary_data_size: bytes.length } }],
          parameters: { binary_data_output: true },
        }),
      );
      const response = await fetch(`${router.url}/v2/models/big-rest/infer`, {
        method: 'POST',
        headers: { 'inference-header-content-length': String(header.length) },
        body: Buffer.concat([header, bytes]),
      });
      const raw = Buffer.from(await response.arrayBuffer());
      const length = response.headers.get('inference-header-content-length');
      return { status: response.status, error: length === null ? raw.toString() : undefined, binary: raw.subarray(Number(length)) };
    };
    for (let round = 0; round < 3; round++) {
      const bodies = [0, 1, 2, 3].map((k) => tensor(4 * round + k));
      const answers = await Promise.all(bodies.map(send));
      answers.forEach((answer, k) => {
        expect({ status: answer.status, error: answer.error }).toEqual({ status: 200, error: undefined });
        expect(answer.binary.equals(Buffer.concat([bodies[k], bodies[k]]))).toBe(true);
      });
    }
  });
});
