import { BeforeApplicationShutdown, HttpException, Injectable, Logger, OnApplicationBootstrap, ServiceUnavailableException } from '@nestjs/common';
import * as grpc from '@grpc/grpc-js';
import { inferRequestFromGrpc, inferResponseToGrpc, OipGrpcError } from '@switchyard/contracts';
import { HOP_HEADER, OipGrpcCall, OipGrpcHost } from '@switchyard/model-client';
import { loopRefused } from '../predict/hop.guard';
import { RouterEnv } from '../router.env';
import { routerMetrics } from '../router.metrics';
import { BinaryBody } from './oip-http';
import { OipService, SERVER_METADATA } from './oip.service';

/** How long a SIGTERM waits for in-flight calls before cutting them (a model call is bounded by its timeoutMs ≤ 60 s). */
const DRAIN_MS = 10_000;

/**
 * The Open Inference Protocol's gRPC service (`inference.GRPCInferenceService`, the
 * vendored libs/contracts/oip/spec/open_inference_grpc.proto) on GRPC_PORT: each RPC is
 * its REST route's OipService call, so inference goes through the same strategy, events,
 * fallbacks and shadows, and fails with the same message (statuses by OipGrpcHost). A
 * request's typed tensors become OIP's JSON tensors, its raw contents the binary
 * extension's form, bytes never decoded into numbers (libs/contracts/src/oip/grpc.ts);
 * the answer's outputs go back as raw contents when the inputs came raw (binary outputs
 * as the model gave them) or an output is FP16/BF16, else typed.
 */
@Injectable()
export class OipGrpcServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(OipGrpcServer.name);
  private host?: OipGrpcHost;

  constructor(
    private readonly oip: OipService,
    private readonly env: RouterEnv,
  ) {}

  /** The port it listens on (GRPC_PORT, or the one picked for 0); undefined when it does not. */
  get port(): number | undefined {
    return this.host?.port;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.env.GRPC_PORT === undefined) return;
    this.host = await OipGrpcHost.start({
      host: this.env.HOST,
      port: this.env.GRPC_PORT,
      maxMessageBytes: this.env.V2_MAX_BODY_BYTES,
      logger: this.logger,
      onCall: (rpc, code, seconds) => {
        routerMetrics.grpcCalls.inc({ rpc, code: grpc.status[code] });
        routerMetrics.grpcLatency.observe({ rpc }, seconds);
      },
      handlers: {
        ServerLive: async () => ({ live: true }),
        ServerReady: async () => ({ ready: await this.answers(() => this.oip.serverReady()) }),
        ServerMetadata: async () => SERVER_METADATA,
        ModelReady: async ({ request }) => ({ ready: await this.answers(() => this.oip.ready(request.name, request.version || undefined)) }),
        ModelMetadata: ({ request }) => this.oip.metadata(request.name, request.version || undefined),
        ModelInfer: (call) => this.infer(call),
      },
    });
  }

  /** Stops taking calls and lets those in flight finish (bounded by DRAIN_MS), before the HTTP server and the clients close. */
  async beforeApplicationShutdown(): Promise<void> {
    const host = this.host;
    this.host = undefined;
    await host?.shutdown(DRAIN_MS);
  }

  private async infer(call: OipGrpcCall): Promise<unknown> {
    if (call.metadata.get(HOP_HEADER).length) throw loopRefused();
    let request: ReturnType<typeof inferRequestFromGrpc>;
    try {
      request = inferRequestFromGrpc(call.request, true);
    } catch (error) {
      if (!(error instanceof OipGrpcError)) throw error;
      routerMetrics.rejected.inc({ route: 'infer' });
      throw new HttpException(`invalid inference request: ${error.message}`, 400);
    }
    // Raw contents stay bytes, as a binary extension body's do: only an output a reward or agreement reads is decoded.
    const body = request.binary ? new BinaryBody(request.request, [request.binary]) : request.request;
    const answer = await this.oip.infer(request.model, body, request.version, request.raw);
    const metadata = new grpc.Metadata();
    metadata.set('x-request-id', answer.requestId);
    call.sendMetadata(metadata);
    try {
      return inferResponseToGrpc(answer.body, request.raw, answer.chunks);
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
}
