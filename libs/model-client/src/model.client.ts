import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { Dispatcher, Pool } from 'undici';
import { status as GrpcStatus, ServiceError } from '@grpc/grpc-js';
import {
  BINARY_HEADER,
  binaryBody,
  binaryDataProblems,
  bytesOf,
  Chunks,
  decodeAll,
  InferResponse,
  OipGrpcError,
  OipInferRequest,
  oipParse,
  oipStringify,
  OipRequestedOutput,
  OipWireTensor,
  splitBinaryBody,
  StoredVariant,
} from '@switchyard/contracts';
import { GrpcVariants } from './grpc';

/** Sent on every call to a variant: a router receiving it refuses the call, so a variant URL pointing back into a router cannot loop. */
export const HOP_HEADER = 'switchyard-hop';

/** Enough for a 2-core router at saturation; undici queues beyond it. */
const CONNECTIONS_PER_ORIGIN = 64;

/** A model's answer past this is refused (`bad-response`): it would be held in memory and logged to Kafka whole. */
export const MAX_MODEL_ANSWER_BYTES = 4 * 1024 * 1024;

export type ModelErrorKind = 'timeout' | 'unavailable' | 'server-error' | 'rejected' | 'bad-response';

/** Why a variant did not answer. `retryable` kinds are retried within the variant's budget. */
export class ModelError extends Error {
  constructor(
    readonly kind: ModelErrorKind,
    message: string,
    readonly status?: number,
    /** A rejection's reason in the model's words (`rejectionDetail`): for the client who sent the inputs, never for events or logs. */
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'ModelError';
  }

  /** A model call's failure as a ModelError; anything else thrown (a bug) counts as `unavailable`. */
  static of(error: unknown): ModelError {
    return error instanceof ModelError ? error : new ModelError('unavailable', (error as Error).message);
  }

  get retryable(): boolean {
    return this.kind !== 'rejected' && this.kind !== 'bad-response';
  }
}

export interface ModelAnswer {
  /** The model's own outputs: the OIP `outputs` array (v2) or the `outputs` value (json). */
  outputs: unknown;
  /** The OIP answer's response-level `parameters`, when it has any. */
  parameters?: Record<string, unknown>;
  /** The bytes of the outputs that have `parameters.binary_data_size` (Triton's binary extension), undecoded. */
  binary?: Buffer;
  latencyMs: number;
  attempts: number;
}

/** Extra OIP request fields forwarded as they came (OIP ingress), to the primary and its shadows alike. */
export interface InferExtras {
  parameters?: Record<string, unknown>;
  outputs?: OipRequestedOutput[];
  /** The bytes of the inputs that have `parameters.binary_data_size` (Triton's binary extension), sent as they came: in the chunks they arrived in. */
  binary?: Chunks;
}

/** What follows a v2 model's path on its server (`/v2/models/{model}`, `…/versions/{modelVersion}` when the variant pins one). */
type ModelRoute = '' | '/ready' | '/infer';

/**
 * Calls variants over the Open Inference Protocol v2 (REST or gRPC) or plain JSON, with
 * one keep-alive connection pool (or gRPC channel) per model server, a timeout per attempt
 * and retries on transient failures (timeout, connection refused, 5xx, UNAVAILABLE) only.
 */
@Injectable()
export class ModelClient implements OnApplicationShutdown {
  private readonly pools = new Map<string, Pool>();
  private readonly endpoints = new Map<string, { origin: string; path: string }>();
  private readonly grpc = new GrpcVariants(MAX_MODEL_ANSWER_BYTES, { [HOP_HEADER]: '1' });

  async infer(variant: StoredVariant, inputs: unknown, requestId: string, extras: InferExtras = {}): Promise<ModelAnswer> {
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      try {
        const answer = await this.attempt(variant, inputs, requestId, extras);
        return { ...answer, latencyMs: performance.now() - started, attempts: attempt };
      } catch (error) {
        const failure = classify(error, variant);
        if (!failure.retryable || attempt > variant.retries) throw failure;
      }
    }
  }

  /**
   * A v2 variant's model metadata (`GET /v2/models/{model}[/versions/{v}]`), as its server
   * answers it; throws a ModelError when it does not (a json variant has none).
   */
  async metadata(variant: StoredVariant): Promise<Record<string, unknown>> {
    if (variant.protocol === 'grpc') return this.grpc.modelMetadata(variant).catch((error: unknown) => Promise.reject(classify(error, variant)));
    const answer = await this.get(variant, '');
    if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) throw new ModelError('bad-response', 'model metadata is not a JSON object');
    return answer as Record<string, unknown>;
  }

  /** Whether a v2 variant's model answers 200 on its readiness route; a json variant has none and counts as ready. */
  async ready(variant: StoredVariant): Promise<boolean> {
    return variant.protocol === 'json' || (await this.unready(variant)) === undefined;
  }

  /**
   * Why `variant` cannot serve now, or undefined when it can: a v2 model answers 200 on its
   * readiness route (`GET /v2/models/{model}[/versions/{v}]/ready`); a json variant has none,
   * so its server answering at all, with any status, at its URL is what can be checked.
   * Waits `timeoutMs` at most (the variant's own by default).
   */
  async unready(variant: StoredVariant, timeoutMs = variant.timeoutMs): Promise<string | undefined> {
    const bounded = { ...variant, timeoutMs };
    try {
      if (variant.protocol === 'grpc') return (await this.grpc.modelReady(bounded)) ? undefined : 'its model is not ready (ModelReady answered false)';
      if (variant.protocol === 'json') await this.request(bounded, new URL(variant.url).pathname);
      else await this.get(bounded, '/ready');
      return undefined;
    } catch (error) {
      const failure = classify(error, bounded);
      if (failure.status === 404)
        return `its model server has no model "${variant.model}"${variant.modelVersion === undefined ? '' : ` version "${variant.modelVersion}"`}`;
      return failure.status === undefined ? failure.message : `its model is not ready (the model server answered ${failure.status})`;
    }
  }

  private async get(variant: StoredVariant, route: Exclude<ModelRoute, '/infer'>): Promise<unknown> {
    if (variant.protocol === 'json') throw new ModelError('bad-response', 'a json-protocol variant has no model metadata');
    const { statusCode, text } = await this.request(variant, modelPath(variant, route));
    return parseAnswer(statusCode, text);
  }

  /** A GET of `path` on the variant's server within its timeoutMs: the status and the text, whatever the status. */
  private async request(variant: StoredVariant, path: string): Promise<{ statusCode: number; text: string }> {
    const url = new URL(variant.url);
    const deadline = new EventEmitter();
    const timer = setTimeout(() => deadline.emit('abort'), variant.timeoutMs);
    try {
      const response = await this.pool(url.origin).request({ method: 'GET', path, signal: deadline });
      const bytes = await boundedBytes(response.body, response.headers['content-length']);
      return { statusCode: response.statusCode, text: bytes.toString('utf8') };
    } catch (error) {
      throw classify(error, variant);
    } finally {
      clearTimeout(timer);
    }
  }

  private async attempt(
    variant: StoredVariant,
    inputs: unknown,
    requestId: string,
    { binary, ...extras }: InferExtras,
  ): Promise<Pick<ModelAnswer, 'outputs' | 'parameters' | 'binary'>> {
    if (variant.protocol === 'grpc') {
      // Binary inputs go as raw contents, raw outputs come back binary: neither is decoded. The deadline bounds the whole call, connecting included.
      const answer = await this.grpc.infer(
        variant,
        { id: requestId, inputs: inputs as OipInferRequest['inputs'], ...extras },
        requestId,
        binary && bytesOf(binary),
      );
      return { outputs: answer.outputs, ...(answer.parameters && { parameters: answer.parameters }), ...(answer.binary && { binary: answer.binary }) };
    }
    const { origin, path } = this.endpoint(variant);
    const v2 = variant.protocol === 'v2';
    const request = requestBody(v2, requestId, inputs, extras, binary);
    // A timer cleared on the answer, not AbortSignal.timeout: that one cannot be cancelled,
    // so every call would leave a timer that fires later and builds a DOMException. The
    // signal is an EventEmitter, which undici accepts and which costs a fraction of an
    // AbortController on the hot path; undici then rejects with an AbortError (a timeout).
    const deadline = new EventEmitter();
    // undici does not abort a request still waiting for its connection (a TLS handshake
    // that never completes waited out its own 10 s connect timeout): the deadline also
    // settles the call itself, so timeoutMs covers connect, TLS, answer and body.
    let expire!: (error: Error) => void;
    const expired = new Promise<never>((_, reject) => (expire = reject));
    const timer = setTimeout(() => {
      deadline.emit('abort');
      expire(Object.assign(new Error('deadline passed'), { name: 'AbortError' }));
    }, variant.timeoutMs);
    try {
      const response = await Promise.race([
        this.pool(origin).request({
          method: 'POST',
          path,
          headers: { ...request.headers, 'x-request-id': requestId, [HOP_HEADER]: '1' },
          body: request.body,
          signal: deadline,
        }),
        expired,
      ]);
      const bytes = await Promise.race([boundedBytes(response.body, response.headers['content-length']), expired]);
      const headerLength = response.headers[BINARY_HEADER];
      if (v2 && headerLength !== undefined && response.statusCode === 200) return binaryAnswer(bytes, headerLength);
      const answer = parseAnswer(response.statusCode, bytes.toString('utf8'));
      return v2 ? v2Answer(answer) : { outputs: jsonOutputs(answer) };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Origin and path of a variant's endpoint, parsed once per URL rather than per call. */
  private endpoint(variant: StoredVariant): { origin: string; path: string } {
    const key = `${variant.protocol} ${variant.model ?? ''} ${variant.modelVersion ?? ''} ${variant.url}`;
    let endpoint = this.endpoints.get(key);
    if (!endpoint) {
      const url = new URL(variant.url);
      const path = variant.protocol === 'v2' ? modelPath(variant, '/infer') : url.pathname.replace(/\/+$/, '') || '/';
      endpoint = { origin: url.origin, path };
      this.endpoints.set(key, endpoint);
    }
    return endpoint;
  }

  private pool(origin: string): Pool {
    let pool = this.pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, { connections: CONNECTIONS_PER_ORIGIN, pipelining: 1, keepAliveTimeout: 30_000 });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.close()));
    this.pools.clear();
    this.grpc.close();
  }
}

type Body = Dispatcher.ResponseData['body'];

function modelPath(variant: StoredVariant, route: ModelRoute): string {
  const basePath = new URL(variant.url).pathname.replace(/\/+$/, '');
  const version = variant.modelVersion === undefined ? '' : `/versions/${encodeURIComponent(variant.modelVersion)}`;
  return `${basePath}/v2/models/${encodeURIComponent(variant.model ?? '')}${version}${route}`;
}

/**
 * The request's body: OIP JSON, or (binary inputs) the binary extension's JSON header and
 * the inputs' bytes as they came. A json-protocol variant reads JSON only: binary inputs
 * are decoded for it.
 */
function requestBody(
  v2: boolean,
  requestId: string,
  inputs: unknown,
  extras: Omit<InferExtras, 'binary'>,
  binary: Chunks | undefined,
): { body: string | Readable; headers: Record<string, string> } {
  const json = { 'content-type': 'application/json' };
  if (!v2) return { body: oipStringify({ inputs: binary ? decodeAll(inputs as OipWireTensor[], bytesOf(binary)) : inputs }), headers: json };
  const header = { id: requestId, inputs, ...extras };
  if (!binary) return { body: oipStringify(header), headers: json };
  // The parts as a stream (undici writes it chunk by chunk): the tensor bytes, in the chunks the router received, are not copied into a new body.
  const { parts, headerLength, length } = binaryBody(header, binary);
  return {
    body: Readable.from(parts),
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(length), [BINARY_HEADER]: String(headerLength) },
  };
}

/** A v2 answer in the binary extension's framing: its outputs' bytes kept as one Buffer, their sizes checked. */
function binaryAnswer(bytes: Buffer, headerLength: string | string[]): Pick<ModelAnswer, 'outputs' | 'parameters' | 'binary'> {
  let split: { header: string; binary: Buffer[] };
  try {
    split = splitBinaryBody([bytes], headerLength);
  } catch (error) {
    throw new ModelError('bad-response', `model answered a binary body that cannot be read: ${(error as Error).message}`);
  }
  const answer = v2Answer(parseAnswer(200, split.header));
  const problems = binaryDataProblems(answer.outputs as OipWireTensor[], split.binary, 'outputs');
  if (problems.length) throw new ModelError('bad-response', `model answered binary outputs that do not match their sizes: ${problems[0]}`);
  return split.binary.length ? { ...answer, binary: bytesOf(split.binary) } : answer;
}

/** The answer's bytes, refused past MAX_MODEL_ANSWER_BYTES, from the declared length when there is one. */
async function boundedBytes(body: Body, declared: string | string[] | undefined): Promise<Buffer> {
  const tooLarge = () => new ModelError('bad-response', `model answer is larger than ${MAX_MODEL_ANSWER_BYTES} bytes`);
  if (declared !== undefined && !Array.isArray(declared)) {
    if (Number(declared) > MAX_MODEL_ANSWER_BYTES) {
      body.destroy();
      throw tooLarge();
    }
    return Buffer.from(await body.arrayBuffer());
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > MAX_MODEL_ANSWER_BYTES) {
      body.destroy();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Longest rejection reason passed on to the client (`ModelError.detail`). */
export const MAX_REJECTION_DETAIL_CHARS = 256;

/**
 * A failure's message says what happened (status, invalid JSON), never what the model
 * wrote: its error body may hold internals, and the message reaches consumers and events.
 * A rejection (4xx) is about the caller's inputs, so its reason goes back to the caller
 * as `detail`, bounded.
 */
function parseAnswer(status: number, text: string): unknown {
  if (status >= 500) throw new ModelError('server-error', `model answered ${status}`, status);
  if (status >= 400) throw new ModelError('rejected', `model rejected the request (${status})`, status, rejectionDetail(text));
  // A redirect is not followed (it could point the router anywhere), nor its body taken as an answer.
  if (status !== 200) throw new ModelError('bad-response', `model answered ${status}, not 200`, status);
  try {
    return oipParse(text);
  } catch {
    throw new ModelError('bad-response', 'model answered with invalid JSON');
  }
}

function v2Answer(answer: unknown): Pick<ModelAnswer, 'outputs' | 'parameters'> {
  const { outputs, parameters } = (answer ?? {}) as Partial<InferResponse>;
  if (!Array.isArray(outputs)) throw new ModelError('bad-response', 'model answer has no OIP "outputs" array');
  const ownParameters = parameters !== null && typeof parameters === 'object' && !Array.isArray(parameters);
  return ownParameters ? { outputs, parameters } : { outputs };
}

function jsonOutputs(answer: unknown): unknown {
  if (answer === null || typeof answer !== 'object' || !('outputs' in answer)) {
    throw new ModelError('bad-response', 'model answer has no "outputs" field');
  }
  return (answer as { outputs: unknown }).outputs;
}

function classify(error: unknown, variant: StoredVariant): ModelError {
  if (error instanceof ModelError) return error;
  if (error instanceof OipGrpcError) return new ModelError('bad-response', `model answer cannot be read: ${error.message}`);
  if (isGrpcError(error)) return classifyGrpc(error, variant);
  const err = error as Error & { code?: string };
  if (err.name === 'AbortError') {
    return new ModelError('timeout', `model did not answer within ${variant.timeoutMs} ms`);
  }
  // The code (ECONNREFUSED, ENOTFOUND), not the message: that one names the address.
  return new ModelError('unavailable', `model unreachable: ${err.code ?? 'connection failed'}`);
}

/** The OIP error body's `error` (or a framework's `detail`/`message`) string, control characters replaced, cut at MAX_REJECTION_DETAIL_CHARS. */
function rejectionDetail(text: string): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text.slice(0, 16 * 1024));
  } catch {
    return undefined;
  }
  const reason = ['error', 'detail', 'message'].map((field) => (body as Record<string, unknown> | null)?.[field]).find((value) => typeof value === 'string');
  return reason === undefined ? undefined : bounded(reason as string);
}

// eslint-disable-next-line no-control-regex
const bounded = (reason: string): string => reason.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').slice(0, MAX_REJECTION_DETAIL_CHARS);

const isGrpcError = (error: unknown): error is ServiceError => typeof (error as ServiceError)?.code === 'number' && 'details' in (error as object);

/**
 * A gRPC status as a failure, as its HTTP equivalent would be (the table of
 * https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md read backwards):
 * the caller's mistakes (INVALID_ARGUMENT, OUT_OF_RANGE: 400; NOT_FOUND, FAILED_PRECONDITION:
 * how the router reaches the model, 422) are rejections with the model's words as `detail`;
 * UNAVAILABLE is the model being unreachable; anything else is the server's failure.
 */
function classifyGrpc(error: ServiceError, variant: StoredVariant): ModelError {
  const name = GrpcStatus[error.code];
  switch (error.code) {
    case GrpcStatus.DEADLINE_EXCEEDED:
      return new ModelError('timeout', `model did not answer within ${variant.timeoutMs} ms`);
    case GrpcStatus.UNAVAILABLE:
      return new ModelError('unavailable', 'model unreachable: gRPC UNAVAILABLE');
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.OUT_OF_RANGE:
      return new ModelError('rejected', `model rejected the request (gRPC ${name})`, 400, bounded(error.details));
    case GrpcStatus.NOT_FOUND:
    case GrpcStatus.FAILED_PRECONDITION:
      return new ModelError('rejected', `model rejected the request (gRPC ${name})`, 422, bounded(error.details));
    case GrpcStatus.RESOURCE_EXHAUSTED:
      // grpc-js's own refusal of an answer past max_receive_message_length.
      if (/larger than max/i.test(error.details)) return new ModelError('bad-response', `model answer is larger than ${MAX_MODEL_ANSWER_BYTES} bytes`);
      return new ModelError('server-error', `model answered gRPC ${name}`);
    default:
      return new ModelError('server-error', `model answered gRPC ${name}`);
  }
}
