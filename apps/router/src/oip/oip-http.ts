import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { OipJsonError, oipParse } from '@switchyard/contracts';
import type { FastifyInstance } from 'fastify';
import { RouterEnv } from '../router.env';

/** The Open Inference Protocol's routes. */
export const OIP_PATH = /^\/v2(\/|\?|$)/;

/** The type every `/v2` request body is parsed as, whatever (if anything) the client declared. */
const OIP_BODY = 'application/x-switchyard-oip';

/**
 * HTTP of the `/v2` routes, below the controller:
 * - bodies parsed by oipParse (exact 64-bit integers, a depth cap) under their own limit,
 *   V2_MAX_BODY_BYTES, with or without a Content-Type (tritonclient sends none); a body
 *   of Triton's binary extension (`Inference-Header-Content-Length`) is refused with 415;
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
    fastify.addContentTypeParser(OIP_BODY, { parseAs: 'string', bodyLimit: this.env.V2_MAX_BODY_BYTES }, (request, text, done) => {
      if (request.headers['inference-header-content-length'] !== undefined) {
        return done(Object.assign(new Error("Triton's binary tensor extension is not supported; send tensors as JSON"), { statusCode: 415 }), undefined);
      }
      try {
        done(null, oipParse(text as string));
      } catch (error) {
        const failure = error instanceof OipJsonError ? error : new OipJsonError('body is not valid JSON');
        done(Object.assign(failure, { statusCode: 400 }), undefined);
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
