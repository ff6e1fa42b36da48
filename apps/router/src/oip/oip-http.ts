import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { BINARY_HEADER, Chunks, oipParse, splitBinaryBody } from '@switchyard/contracts';
import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { RouterEnv } from '../router.env';

/** The Open Inference Protocol's routes. */
export const OIP_PATH = /^\/v2(\/|\?|$)/;

/**
 * A `/v2` body in the framing of Triton's binary tensor extension: the parsed JSON header,
 * and the tensors' bytes after it, unread. The bytes may lie in a reused buffer (BodySlabs):
 * valid until release(), which OipService.infer calls once the inference has settled.
 */
export class BinaryBody {
  #giveBack: (() => void) | undefined;

  constructor(
    readonly request: unknown,
    readonly binary: Chunks,
    giveBack?: () => void,
  ) {
    this.#giveBack = giveBack;
  }

  /** The bytes are no longer read: their buffer may hold the next body. Once; later calls do nothing. */
  release(): void {
    const giveBack = this.#giveBack;
    this.#giveBack = undefined;
    giveBack?.();
  }
}

/** Largest binary body read into a reused buffer; a larger one (or one of unknown length) keeps the chunks it came in. */
export const SLAB_BYTES = 4 * 1024 * 1024;
/** Buffers kept for reuse at most (the memory an idle router holds after a burst: 16 × 4 MiB). */
const MAX_FREE_SLABS = 16;

/**
 * Reused buffers for binary bodies. A megabyte that arrives as the socket's fresh chunks
 * and is held for the whole request (forwarded, answered, published) outlives young-generation
 * collections and piles up as external memory, and V8 answers every 64 MB of it with a full
 * mark-compact of the router's heap (`--trace-gc`: "external memory pressure", one per ~35
 * requests of 1 MiB; ~1.5 ms of CPU per request, a third of the router's). Copied on arrival
 * into a buffer kept across requests, the chunks die young and the heap stays quiet
 * (docs/benchmarks/2026-12-07-issue-27-binary-tensors.md). A buffer not given back (a body
 * refused before inference) is simply collected: forgetting costs memory churn, not correctness.
 */
class BodySlabs {
  private readonly free: Buffer[] = [];

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES);
  }

  give(slab: Buffer): void {
    if (this.free.length < MAX_FREE_SLABS) this.free.push(slab);
  }
}

/** The type every `/v2` request body is parsed as, whatever (if anything) the client declared. */
const OIP_BODY = 'application/x-switchyard-oip';

/**
 * HTTP of the `/v2` routes, below the controller:
 * - bodies parsed by oipParse (exact 64-bit integers, a depth cap) under their own limit,
 *   V2_MAX_BODY_BYTES, with or without a Content-Type (tritonclient sends none); a body
 *   of Triton's binary extension (`Inference-Header-Content-Length`) becomes a BinaryBody:
 *   its JSON header parsed, its bytes copied as they arrive into a reused buffer (BodySlabs)
 *   when its Content-Length fits one, else kept as the chunks the socket gave; never joined
 *   into a fresh Buffer (Fastify's own reading), whose megabyte per request costs the same
 *   full collections as holding the chunks;
 * - every error in OIP's shape, `{"error": "message"}`. Errors on `/v2` arise in four
 *   layers (body reading: 413; parsing: 400; Nest's routing: 404; the handlers), so they
 *   are rewritten in one place, as they are sent, rather than by a global exception filter
 *   whose order against the Kafka transport's filter would decide who answers.
 * Registered once the app's own parsers are, so the JSON parser of the other routes stays as it is.
 */
@Injectable()
export class OipHttp implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly env: RouterEnv,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.addHook('onRequest', (request, _reply, done) => {
      if (request.method === 'POST' && OIP_PATH.test(request.url)) request.headers['content-type'] = OIP_BODY;
      done();
    });
    const limit = this.env.V2_MAX_BODY_BYTES;
    const slabs = new BodySlabs();
    fastify.addContentTypeParser(OIP_BODY, (request, payload, done) => {
      const headerLength = request.headers[BINARY_HEADER];
      const declared = Number(request.headers['content-length']);
      const slab = headerLength !== undefined && declared > 0 && declared <= SLAB_BYTES ? slabs.take() : undefined;
      const giveBack = slab && (() => slabs.give(slab));
      readChunks(request, payload, limit, slab, (error, chunks) => {
        if (error) {
          giveBack?.();
          return done(error, undefined);
        }
        try {
          if (headerLength === undefined) return done(null, oipParse(Buffer.concat(chunks!).toString('utf8')));
          const { header, binary } = splitBinaryBody(chunks!, headerLength);
          done(null, new BinaryBody(oipParse(header), binary, giveBack));
        } catch (error) {
          giveBack?.();
          // Either is the client's: JSON that is not (OipJsonError), or a binary framing that does not add up.
          done(Object.assign(error as Error, { statusCode: 400 }), undefined);
        }
      });
    });
    fastify.addHook('onSend', (request, reply, payload, done) => {
      if (reply.statusCode < 400 || !OIP_PATH.test(request.url)) return done(null, payload);
      reply.header('content-type', 'application/json; charset=utf-8');
      done(null, oipErrorBody(payload));
    });
  }
}

/**
 * A body's chunks, as Fastify's own reading (`parseAs: 'buffer'`) checks it but without
 * its final Buffer.concat: the same errors (413 past `limit`, declared or received; 400
 * when the length received is not the Content-Length declared, or the stream fails).
 * With a `slab` (the Content-Length fits it), the chunks are copied into it as they come
 * and the body is the one view of it.
 */
function readChunks(
  request: FastifyRequest,
  payload: Readable & { receivedEncodedLength?: number },
  limit: number,
  slab: Buffer | undefined,
  done: (error: Error | null, chunks?: Buffer[]) => void,
): void {
  const declared = Number(request.headers['content-length']);
  if (declared > limit) return done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
  const chunks: Buffer[] = [];
  let received = 0;
  const stop = () => {
    payload.removeListener('data', onData);
    payload.removeListener('end', onEnd);
    payload.removeListener('error', onEnd);
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received > limit || (payload.receivedEncodedLength ?? 0) > limit) {
      stop();
      return done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
    }
    if (!slab) return void chunks.push(chunk);
    // More than the Content-Length that chose the slab: what the length check at the end refuses anyway.
    if (received > slab.length) {
      stop();
      return done(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
    }
    chunk.copy(slab, received - chunk.length);
  };
  const onEnd = (error?: Error & { statusCode?: number }) => {
    stop();
    if (error) return done(Object.assign(error, { statusCode: typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 400 }));
    if (!Number.isNaN(declared) && (payload.receivedEncodedLength || received) !== declared) return done(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
    done(null, slab ? [slab.subarray(0, received)] : chunks);
  };
  payload.on('data', onData);
  payload.on('end', onEnd);
  payload.on('error', onEnd);
  payload.resume();
}

/** An error body as `{"error": message}`: Nest's `{statusCode, message, error}` and fastify's carry the message. */
export function oipErrorBody(payload: unknown): unknown {
  if (typeof payload !== 'string') return payload;
  let body: { error?: unknown; message?: unknown } | null;
  try {
    body = JSON.parse(payload) as typeof body;
  } catch {
    return JSON.stringify({ error: payload });
  }
  if (body !== null && typeof body === 'object' && Object.keys(body).length === 1 && typeof body.error === 'string') return payload;
  const message = body?.message ?? body?.error;
  return JSON.stringify({ error: Array.isArray(message) ? message.join('; ') : typeof message === 'string' ? message : 'request failed' });
}
