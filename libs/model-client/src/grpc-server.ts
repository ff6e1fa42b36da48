import { HttpException, Logger } from '@nestjs/common';
import * as grpc from '@grpc/grpc-js';
import { GrpcInferRequest } from '@switchyard/contracts';
import { oipGrpcService } from './grpc';

/**
 * The gRPC status of each HTTP answer an OIP service gives, so an RPC fails as its REST
 * route does, with the same message (the mapping of
 * https://github.com/grpc/grpc/blob/master/doc/statuscodes.md). 413 (a model refused the
 * inputs' size) is the client's INVALID_ARGUMENT; 422 (a model refused the call for a
 * reason of the router's own: a 404 or 401 there) FAILED_PRECONDITION; 502 and 503 (no
 * model answered, the router cannot record) UNAVAILABLE, which clients may retry; 500 (a
 * model failed) INTERNAL.
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

/** An error as a gRPC status: an HTTP answer by CODES with its message; anything else (a bug) INTERNAL, its message kept out. */
export function statusOf(error: unknown): { code: grpc.status; details: string } {
  if (!(error instanceof HttpException)) return { code: grpc.status.INTERNAL, details: 'Internal server error' };
  const body = error.getResponse();
  const message = typeof body === 'object' && body !== null && 'message' in body ? (body as { message: unknown }).message : error.message;
  return { code: CODES[error.getStatus()] ?? grpc.status.INTERNAL, details: Array.isArray(message) ? message.join('; ') : String(message) };
}

/** Any RPC's request: ModelReady and ModelMetadata name a model and version; ModelInfer is the rest. */
export type OipGrpcRequest = GrpcInferRequest & { name: string; version: string };
export type OipGrpcCall = grpc.ServerUnaryCall<OipGrpcRequest, unknown>;
/** An RPC's answer, or an HttpException that becomes its status (statusOf). */
export type OipGrpcHandler = (call: OipGrpcCall) => Promise<unknown>;
export type OipGrpcHandlers = Record<'ServerLive' | 'ServerReady' | 'ServerMetadata' | 'ModelReady' | 'ModelMetadata' | 'ModelInfer', OipGrpcHandler>;

export interface OipGrpcHostOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The largest request message taken (grpc-js answers RESOURCE_EXHAUSTED past it). */
  maxMessageBytes: number;
  handlers: OipGrpcHandlers;
  logger: Logger;
  /** Told of every finished call (metrics). */
  onCall?: (rpc: string, code: grpc.status, seconds: number) => void;
}

/**
 * `inference.GRPCInferenceService` served by a handler per RPC, plaintext (h2c, as
 * Triton and KServe serve it inside a cluster): the router's and the demo model server's
 * gRPC service alike. Errors become statuses by statusOf; one that is not an HTTP
 * answer is logged and sent as INTERNAL without its message.
 */
export class OipGrpcHost {
  private constructor(
    private readonly server: grpc.Server,
    /** The port it listens on (the one picked when asked for 0). */
    readonly port: number,
    private readonly logger: Logger,
  ) {}

  static async start(options: OipGrpcHostOptions): Promise<OipGrpcHost> {
    const server = new grpc.Server({ 'grpc.max_receive_message_length': options.maxMessageBytes });
    const implementation = Object.fromEntries(Object.entries(options.handlers).map(([rpc, handler]) => [rpc, unary(rpc, handler, options)]));
    server.addService(oipGrpcService().service, implementation);
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host}:${options.port}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    options.logger.log({ port }, `Open Inference Protocol gRPC on ${host}:${port}`);
    return new OipGrpcHost(server, port, options.logger);
  }

  /** Stops taking calls and lets those in flight finish, cutting them after `drainMs`. */
  shutdown(drainMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const cut = setTimeout(() => {
        this.logger.warn('gRPC calls still running after the drain time: cut');
        this.server.forceShutdown();
        resolve();
      }, drainMs);
      this.server.tryShutdown(() => {
        clearTimeout(cut);
        resolve();
      });
    });
  }
}

function unary(rpc: string, handler: OipGrpcHandler, options: OipGrpcHostOptions): grpc.handleUnaryCall<OipGrpcRequest, unknown> {
  return (call, callback) => {
    const started = performance.now();
    const done = (code: grpc.status) => options.onCall?.(rpc, code, (performance.now() - started) / 1000);
    handler(call).then(
      (response) => {
        done(grpc.status.OK);
        callback(null, response);
      },
      (error: unknown) => {
        const { code, details } = statusOf(error);
        if (code === grpc.status.INTERNAL && !(error instanceof HttpException)) {
          options.logger.error({ rpc, error: (error as Error).message }, 'gRPC call failed');
        }
        done(code);
        callback({ code, details });
      },
    );
  };
}
