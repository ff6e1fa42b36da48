import { BeforeApplicationShutdown, HttpException, Injectable, Logger, OnApplicationBootstrap, ServiceUnavailableException } from '@nestjs/common';
import * as grpc from '@grpc/grpc-js';
import { GrpcInferRequest, inferRequestFromGrpc, inferResponseToGrpc, OipGrpcError } from '@switchyard/contracts';
import { HOP_HEADER, oipGrpcService } from '@switchyard/model-client';
import { loopRefused } from '../predict/hop.guard';
import { RouterEnv } from '../router.env';
import { routerMetrics } from '../router.metrics';
import { OipService, SERVER_METADATA } from './oip.service';

/** How long a SIGTERM waits for in-flight calls before cutting them (a model call is bounded by its timeoutMs ≤ 60 s). */
const DRAIN_MS = 10_000;

/**
 * The gRPC status of each HTTP answer the OIP service gives, so an RPC fails as its REST
 * route does, with the same message (the mapping of
 * https://github.com/grpc/grpc/blob/master/doc/statuscodes.md). 413 (a model refused the
 * inputs' size) is the client's INVALID_ARGUMENT; 422 (a model refused the call for a
 * reason of the router's own: a 404 or 401 there) FAILED_PRECONDITION; 502 and 503 (no
 * model answered, the router cannot record) UNAVAILABLE, which clients may retry.
 */
const CODES: Record<number, grpc.status> = {
  400: grpc.status.INVALID_ARGUMENT,
  404: grpc.status.NOT_FOUND,
  409: grpc.status.ALREADY_EXISTS,
  413: grpc.status.INVALID_ARGUMENT,
  422: grpc.status.FAILED_PRECONDITION,
  429: grpc.status.RESOURCE_EXHAUSTED,
  502: grpc.status.UNAVAILABLE,
  503: grpc.status.UNAVAILABLE,
  504: grpc.status.DEADLINE_EXCEEDED,
  508: grpc.status.FAILED_PRECONDITION,
};

/** Any RPC's request: ModelReady and ModelMetadata name a model and version; ModelInfer is the rest. */
type AnyRequest = GrpcInferRequest & { name: string; version: string };
type Handler = (call: grpc.ServerUnaryCall<AnyRequest, unknown>) => Promise<unknown>;

/**
 * The Open Inference Protocol's gRPC service (`inference.GRPCInferenceService`, the
 * vendored libs/contracts/oip/spec/open_inference_grpc.proto) on GRPC_PORT: each RPC is
 * its REST route's OipService call, so inference goes through the same strategy, events,
 * fallbacks and shadows, and fails with the same message. A request's tensors become
 * OIP's JSON tensors (libs/contracts/src/oip/grpc.ts); the answer's outputs go back as
 * raw contents when the inputs came raw (or an output is FP16/BF16), else typed.
 */
@Injectable()
export class OipGrpcServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(OipGrpcServer.name);
  private server?: grpc.Server;
  /** The port it listens on (GRPC_PORT, or the one picked for 0); undefined when it does not. */
  port?: number;

  constructor(
    private readonly oip: OipService,
    private readonly env: RouterEnv,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.env.GRPC_PORT === undefined) return;
    const server = new grpc.Server({ 'grpc.max_receive_message_length': this.env.V2_MAX_BODY_BYTES });
    const rpc = (name: string, handler: Handler): grpc.handleUnaryCall<AnyRequest, unknown> => this.unary(name, handler);
    server.addService(oipGrpcService().service, {
      ServerLive: rpc('ServerLive', async () => ({ live: true })),
      ServerReady: rpc('ServerReady', async () => ({ ready: await this.answers(() => this.oip.serverReady()) })),
      ServerMetadata: rpc('ServerMetadata', async () => SERVER_METADATA),
      ModelReady: rpc('ModelReady', async ({ request }) => ({ ready: await this.answers(() => this.oip.ready(request.name, request.version || undefined)) })),
      ModelMetadata: rpc('ModelMetadata', ({ request }) => this.oip.metadata(request.name, request.version || undefined)),
      ModelInfer: rpc('ModelInfer', (call) => this.infer(call)),
    });
    const host = this.env.HOST.includes(':') ? `[${this.env.HOST}]` : this.env.HOST;
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host}:${this.env.GRPC_PORT}`, grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))),
    );
    this.server = server;
    this.logger.log({ port: this.port }, `Open Inference Protocol gRPC on ${host}:${this.port}`);
  }

  /** Stops taking calls and lets those in flight finish (bounded by DRAIN_MS), before the HTTP server and the clients close. */
  async beforeApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      const cut = setTimeout(() => {
        this.logger.warn('gRPC calls still running after the drain time: cut');
        server.forceShutdown();
        resolve();
      }, DRAIN_MS);
      server.tryShutdown(() => {
        clearTimeout(cut);
        resolve();
      });
    });
  }

  private async infer(call: grpc.ServerUnaryCall<GrpcInferRequest, unknown>): Promise<unknown> {
    if (call.metadata.get(HOP_HEADER).length) throw loopRefused();
    let request: ReturnType<typeof inferRequestFromGrpc>;
    try {
      request = inferRequestFromGrpc(call.request);
    } catch (error) {
      if (!(error instanceof OipGrpcError)) throw error;
      routerMetrics.rejected.inc({ route: 'infer' });
      throw new HttpException(`invalid inference request: ${error.message}`, 400);
    }
    const answer = await this.oip.infer(request.model, request.request, request.version);
    const metadata = new grpc.Metadata();
    metadata.set('x-request-id', answer.requestId);
    call.sendMetadata(metadata);
    try {
      return inferResponseToGrpc(answer.body, request.raw);
    } catch (error) {
      throw new HttpException(`variant "${answer.body.model_version}" answered outputs that cannot be sent over gRPC: ${(error as Error).message}`, 502);
    }
  }

  /** Whether a readiness check passes: over gRPC, not ready is an answer (`ready: false`), not an error. */
  private async answers(check: () => Promise<unknown>): Promise<boolean> {
    try {
      await check();
      return true;
    } catch (error) {
      if (error instanceof ServiceUnavailableException) return false;
      throw error;
    }
  }

  private unary(name: string, handler: Handler): grpc.handleUnaryCall<AnyRequest, unknown> {
    return (call, callback) => {
      const started = performance.now();
      handler(call).then(
        (response) => {
          this.count(name, grpc.status.OK, started);
          callback(null, response);
        },
        (error: unknown) => {
          const { code, details } = statusOf(error);
          if (code === grpc.status.INTERNAL) this.logger.error({ rpc: name, error: (error as Error).message }, 'gRPC call failed');
          this.count(name, code, started);
          callback({ code, details });
        },
      );
    };
  }

  private count(rpc: string, code: grpc.status, started: number): void {
    routerMetrics.grpcCalls.inc({ rpc, code: grpc.status[code] });
    routerMetrics.grpcLatency.observe({ rpc }, (performance.now() - started) / 1000);
  }
}

/** An error as a gRPC status: an HTTP answer by CODES with its message; anything else (a bug) INTERNAL, its message kept out. */
export function statusOf(error: unknown): { code: grpc.status; details: string } {
  if (!(error instanceof HttpException)) return { code: grpc.status.INTERNAL, details: 'Internal server error' };
  const body = error.getResponse();
  const message = typeof body === 'object' && body !== null && 'message' in body ? (body as { message: unknown }).message : error.message;
  return { code: CODES[error.getStatus()] ?? grpc.status.INTERNAL, details: Array.isArray(message) ? message.join('; ') : String(message) };
}
