import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { GrpcInferRequest, StoredVariant } from '@switchyard/contracts';
import { OipGrpcHost } from './grpc-server';
import { GrpcVariants, grpcTarget } from './grpc';

describe(grpcTarget.name, () => {
  it.each([
    ['http://127.0.0.1:8001', { target: '127.0.0.1:8001', tls: false }],
    ['http://models.internal', { target: 'models.internal:80', tls: false }],
    ['https://models.example.com/ignored/path', { target: 'models.example.com:443', tls: true }],
    ['http://[::1]:8001', { target: '[::1]:8001', tls: false }],
  ])('reads %s as a gRPC target', (url, target) => {
    expect(grpcTarget(url)).toEqual(target);
  });
});

describe('GrpcVariants over a gRPC model server', () => {
  it('sends binary inputs as raw contents and reads raw outputs as bytes, neither decoded: the bytes out are the bytes in', async () => {
    let received: GrpcInferRequest | undefined;
    // An echo model: each raw input back as the output of the same name.
    const host = await OipGrpcHost.start({
      host: '127.0.0.1',
      port: 0,
      maxMessageBytes: 4 * 1024 * 1024,
      logger: new Logger('test'),
      onCall: () => undefined,
      handlers: {
        ModelInfer: async (call: { request: unknown }) => {
          received = call.request as GrpcInferRequest;
          return {
            model_name: received.model_name,
            outputs: received.inputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
            raw_output_contents: received.raw_input_contents,
          };
        },
      },
    } as never);
    const variants = new GrpcVariants(4 * 1024 * 1024, {});
    try {
      const bytes = randomBytes(1024 * 1024);
      const inputs = [{ name: 'x', datatype: 'FP32', shape: [1, 262144], parameters: { binary_data_size: bytes.length } }];
      const variant = { name: 'v1', url: `http://127.0.0.1:${host.port}`, model: 'echo', protocol: 'grpc', timeoutMs: 10_000, retries: 0 } as StoredVariant;

      const answer = await variants.infer(variant, { inputs } as never, 'r-1', bytes);

      expect(received!.raw_input_contents).toEqual([bytes]);
      expect(answer.outputs).toEqual(inputs);
      expect(answer.binary!.equals(bytes)).toBe(true);
    } finally {
      variants.close();
      await host.shutdown(1000);
    }
  });
});
