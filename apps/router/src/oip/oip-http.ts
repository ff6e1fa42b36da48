import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { BINARY_HEADER, oipParse, splitBinaryBody } from '@switchyard/contracts';
import type { FastifyInstance } from 'fastify';
import { RouterEnv } from '../router.env';

/** The Open Inference Protocol's routes. */
export const OIP_PATH = /^\/v2(\/|\?|$)/;

/** A `/v2` body in the framing of Triton's binary tensor extension: the parsed JSON header, and the tensors' bytes after it, unread. */
export class BinaryBody {
  constructor(
    readonly request: unknown,
    readonly binary: Buffer,
  ) {}
}

/** The type every `/v2` request body is parsed as, whatever (if anything) the client declared. */
const OIP_BODY = 'application/x-switchyard-oip';

/**
 * HTTP of the `/v2` routes, below the controller:
 * - bodies parsed by oipParse (exact 64-bit integers, a depth cap) under their own limit,
 *   V2_MAX_BODY_BYTES, with or without a Content-Type (tritonclient sends none); a body
 *   of Triton's binary extension (`Inference-Header-Content-Length`) becomes a BinaryBody:
 *   its JSON header parsed, its tensor bytes left as a view of the body;
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
    fastify.addContentTypeParser(OIP_BODY, { parseAs: 'buffer', bodyLimit: this.env.V2_MAX_BODY_BYTES }, (request, body, done) => {
      try {
        const headerLength = request.headers[BINARY_HEADER];
        if (headerLength === undefined) return done(null, oipParse((body as Buffer).toString('utf8')));
        const { header, binary } = splitBinaryBody(body as Buffer, headerLength);
        done(null, new BinaryBody(oipParse(header), binary));
      } catch (error) {
        // Either is the client's: JSON that is not (OipJsonError), or a binary framing that does not add up.
        done(Object.assign(error as Error, { statusCode: 400 }), undefined);
      }
    });
    fastify.addHook('onSend', (request, reply, payload, done) => {
      if (reply.statusCode < 400 || !OIP_PATH.test(request.url)) return done(null, payload);
      reply.header('content-type', 'application/json; charset=utf-8');
      done(null, oipErrorBody(payload));
    });
  }
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
