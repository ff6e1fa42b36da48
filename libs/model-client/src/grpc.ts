import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import {
  GRPC_LOADER_OPTIONS,
  GrpcInferRequest,
  GrpcInferResponse,
  InferResponse,
  inferRequestToGrpc,
  inferResponseFromGrpc,
  OIP_GRPC_PROTO,
  OipInferRequest,
  StoredVariant,
} from '@switchyard/contracts';

/** `inference.GRPCInferenceService` from the vendored proto: its client constructor, whose `service` the router serves. */
export type OipGrpcService = grpc.ServiceClientConstructor;

let loaded: OipGrpcService | undefined;

/** The service definition, loaded once per process. */
export function oipGrpcService(): OipGrpcService {
  if (!loaded) {
    const definition = grpc.loadPackageDefinition(loadSync(OIP_GRPC_PROTO, GRPC_LOADER_OPTIONS));
    loaded = (definition.inference as grpc.GrpcObject).GRPCInferenceService as OipGrpcService;
  }
  return loaded;
}

type Unary<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response?: Res) => void,
) => void;

/** The client's RPCs, typed by the proto-loader shapes of libs/contracts/src/oip/grpc.ts. */
interface OipGrpcClient extends grpc.Client {
  ModelInfer: Unary<GrpcInferRequest, GrpcInferResponse>;
  ModelMetadata: Unary<{ name: string; version: string }, Record<string, unknown>>;
  ModelReady: Unary<{ name: string; version: string }, { ready: boolean }>;
}

/**
 * A gRPC variant's target from its URL: `http://host:port` is plaintext (h2c), as Triton
 * and KServe serve gRPC inside a cluster; `https://` is TLS with the system's CAs. A path
 * is meaningless to gRPC and ignored.
 */
export function grpcTarget(url: string): { target: string; tls: boolean } {
  const parsed = new URL(url);
  const tls = parsed.protocol === 'https:';
  // An IPv6 hostname keeps its brackets in a URL, as a gRPC target needs them.
  return { target: `${parsed.hostname}:${parsed.port || (tls ? 443 : 80)}`, tls };
}

/** One call, its deadline `timeoutMs` away: that bounds the whole call, connecting included, as it does over HTTP. */
function unary<Req, Res>(method: Unary<Req, Res>, client: grpc.Client, request: Req, metadata: grpc.Metadata, timeoutMs: number): Promise<Res> {
  return new Promise((resolve, reject) =>
    method.call(client, request, metadata, { deadline: Date.now() + timeoutMs }, (error, response) => (error ? reject(error) : resolve(response as Res))),
  );
}

/**
 * gRPC variants' transport: one channel per target (grpc-js multiplexes calls over its
 * HTTP/2 connection, reconnecting on its own), a deadline per call. It throws what the
 * call gave (a grpc ServiceError, an OipGrpcError for an answer it cannot read); the
 * ModelClient classifies them, as it does HTTP failures.
 */
export class GrpcVariants {
  private readonly clients = new Map<string, OipGrpcClient>();

  constructor(
    /** The largest answer accepted, in bytes: grpc-js refuses a larger message (RESOURCE_EXHAUSTED). */
    private readonly maxAnswerBytes: number,
    /** Sent as call metadata on every call (the router's hop marker). */
    private readonly headers: Record<string, string>,
  ) {}

  /**
   * One inference. Inputs with binary data in `binary` (Triton's binary extension's form)
   * go as raw contents as they are, and raw outputs come back in that form (`binary`):
   * tensor bytes are never decoded into numbers here.
   */
  async infer(variant: StoredVariant, request: OipInferRequest, requestId: string, binary?: Buffer): Promise<InferResponse & { binary?: Buffer }> {
    const message = inferRequestToGrpc(variant.model ?? '', variant.modelVersion, request, binary);
    const client = this.client(variant.url);
    const metadata = this.metadata();
    metadata.set('x-request-id', requestId);
    return inferResponseFromGrpc(await unary(client.ModelInfer, client, message, metadata, variant.timeoutMs), true);
  }

  /** ModelMetadata, shapes as numbers (the proto's int64 arrive as strings). */
  async modelMetadata(variant: StoredVariant): Promise<Record<string, unknown>> {
    const client = this.client(variant.url);
    const answer = await unary(client.ModelMetadata, client, this.modelRef(variant), this.metadata(), variant.timeoutMs);
    const tensors = (list: unknown) => ((list as { shape: string[] }[] | undefined) ?? []).map((t) => ({ ...t, shape: t.shape.map(Number) }));
    return { ...answer, inputs: tensors(answer.inputs), outputs: tensors(answer.outputs) };
  }

  async modelReady(variant: StoredVariant): Promise<boolean> {
    const client = this.client(variant.url);
    return (await unary(client.ModelReady, client, this.modelRef(variant), this.metadata(), variant.timeoutMs)).ready;
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private modelRef(variant: StoredVariant): { name: string; version: string } {
    return { name: variant.model ?? '', version: variant.modelVersion ?? '' };
  }

  private metadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries(this.headers)) metadata.set(key, value);
    return metadata;
  }

  private client(url: string): OipGrpcClient {
    let client = this.clients.get(url);
    if (!client) {
      const { target, tls } = grpcTarget(url);
      const Service = oipGrpcService();
      client = new Service(target, tls ? grpc.credentials.createSsl() : grpc.credentials.createInsecure(), {
        'grpc.max_receive_message_length': this.maxAnswerBytes,
      }) as unknown as OipGrpcClient;
      this.clients.set(url, client);
    }
    return client;
  }
}
