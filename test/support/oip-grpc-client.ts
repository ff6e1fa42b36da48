import * as grpc from '@grpc/grpc-js';
import { oipGrpcService } from '@switchyard/model-client';

/** A client as tritonclient.grpc makes one: the generated stub of the proto, plaintext, answers and their initial metadata. */
export function tritonLikeClient(port: number) {
  const Service = oipGrpcService();
  const client = new Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  type Rpc = (
    request: object,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, answer: unknown) => void,
  ) => grpc.ClientUnaryCall;
  const call = <T>(rpc: string, request: object, metadata = new grpc.Metadata()) =>
    new Promise<{ answer?: T; error?: grpc.ServiceError; headers?: grpc.Metadata }>((resolve) => {
      let headers: grpc.Metadata | undefined;
      const pending = ((client as unknown as Record<string, Rpc>)[rpc] as Rpc).call(
        client,
        request,
        metadata,
        { deadline: Date.now() + 20_000 },
        (error, answer) => resolve(error ? { error, headers } : { answer: answer as T, headers }),
      );
      pending.on('metadata', (received: grpc.Metadata) => (headers = received));
    });
  return { call, close: () => client.close() };
}
