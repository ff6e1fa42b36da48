import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { BINARY_HEADER, Chunks, oipParse, splitBinaryBody } from '@switchyard/contracts';
import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { RouterEnv } from '../router.env';

/** The Open Inference Protocol's routes. */
export const OIP_PATH = /^\/v2(\/|\?|$)/;

/** A `/v2` body in the framing of Triton's binary tensor extension: the parsed JSON header, and the tensors' bytes after it, unread, in the chunks they came in. */
export class BinaryBody {
  constructor(
    readonly request: unknown,
    readonly binary: Chunks,
  ) {}
}

/** The type every `/v2` request body is parsed as, whatever (if anything) the client declared. */
const OIP_BODY = 'application/x-switchyard-oip';

/**
 * HTTP of the `/v2` routes, below the controller:
 * - bodies parsed by oipParse (exact 64-bit integers, a depth cap) under their own limit,
 *   V2_MAX_BODY_BYTES, with or without a Content-Type (tritonclient sends none); a body
 *   of Triton's binary extension (`Inference-Header-Content-Length`) becomes a BinaryBody:
 *   its JSON header parsed, its tensor bytes left as the chunks the socket gave, never
 *   joined (a joined megabyte is a fresh 1 MiB allocation and copy: about 2 ms of CPU,
 *   half of what the router spent on such a request), so they go on to the variant as they came;
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
    fastify.addContentTypeParser(OIP_BODY, (request, payload, done) => {
      readChunks(request, payload, limit, (error, chunks) => {
        if (error) return done(error, undefined);
        try {
          const headerLength = request.headers[BINARY_HEADER];
          if (headerLength === undefined) return done(null, oipParse(Buffer.concat(chunks!).toString('utf8')));
          const { header, binary } = splitBinaryBody(chunks!, headerLength);
          done(null, new BinaryBody(oipParse(header), binary));
        } catch (error) {
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
 */
function readChunks(
  request: FastifyRequest,
  payload: Readable & { receivedEncodedLength?: number },
  limit: number,
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
    chunks.push(chunk);
  };
  const onEnd = (error?: Error & { statusCode?: number }) => {
    stop();
    if (error) return done(Object.assign(error, { statusCode: typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 400 }));
    if (!Number.isNaN(declared) && (payload.receivedEncodedLength || received) !== declared) return done(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
    done(null, chunks);
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
