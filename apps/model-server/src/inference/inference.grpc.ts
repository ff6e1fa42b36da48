import { BadRequestException, BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { inferRequestFromGrpc, inferResponseToGrpc, OipGrpcError } from '@switchyard/contracts';
import { OipGrpcCall, OipGrpcHost } from '@switchyard/model-client';
import { HealthRegistry } from '@switchyard/runtime';
import { ModelServerEnv } from '../model-server.env';
import { InferenceService } from './inference.service';

/** How long a SIGTERM waits for in-flight calls (a demo model answers within MODEL_LATENCY_MS ≤ 60 s plus its own). */
const DRAIN_MS = 10_000;

/**
 * The demo models over the Open Inference Protocol's gRPC service
 * (`inference.GRPCInferenceService`) on GRPC_PORT, as Triton serves it: each RPC is its
 * REST route's InferenceService call, its tensors converted by the same pure conversions
 * the router uses (libs/contracts/src/oip/grpc.ts); outputs go back raw when the inputs
 * came raw. A `protocol: "grpc"` variant can point at it.
 */
@Injectable()
export class InferenceGrpcServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(InferenceGrpcServer.name);
  private host?: OipGrpcHost;

  constructor(
    private readonly inference: InferenceService,
    private readonly health: HealthRegistry,
    private readonly env: ModelServerEnv,
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
      maxMessageBytes: this.env.MAX_BODY_BYTES,
      logger: this.logger,
      handlers: {
        ServerLive: async () => ({ live: true }),
        // Not ready once shutdown has begun, as /v2/health/ready.
        ServerReady: async () => ({ ready: (await this.health.report()).ready }),
        ServerMetadata: async () => this.inference.serverMetadata(),
        ModelReady: async ({ request }) => this.inference.modelReady(request.name, request.version || undefined),
        ModelMetadata: async ({ request }) => this.inference.modelMetadata(request.name, request.version || undefined),
        ModelInfer: (call) => this.infer(call),
      },
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    const host = this.host;
    this.host = undefined;
    await host?.shutdown(DRAIN_MS);
  }

  private async infer(call: OipGrpcCall): Promise<unknown> {
    let request: ReturnType<typeof inferRequestFromGrpc>;
    try {
      request = inferRequestFromGrpc(call.request);
    } catch (error) {
      if (!(error instanceof OipGrpcError)) throw error;
      throw new BadRequestException(`invalid inference request: ${error.message}`);
    }
    const answer = await this.inference.inferV2(request.model, request.request, request.version, 'grpc');
    return inferResponseToGrpc(answer, request.raw);
  }
}
