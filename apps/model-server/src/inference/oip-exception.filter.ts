import { ArgumentsHost, Catch, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';

/** Routes of the Open Inference Protocol and the plain JSON protocol. */
const INFERENCE_PATH = /^\/(v2|json)(\/|\?|$)/;

/**
 * Answers errors on inference routes in the Open Inference Protocol's format,
 * `{"error": "message"}` — including those raised before a handler runs (a body that is
 * not JSON, an unknown route). Registered app-wide so those are caught too; every other
 * route keeps Nest's usual error body.
 */
@Catch()
export class OipExceptionFilter extends BaseExceptionFilter {
  private readonly logger = new Logger(OipExceptionFilter.name);

  override catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const url = String(http.getRequest<{ url?: string }>().url ?? '');
    if (!INFERENCE_PATH.test(url)) return super.catch(exception, host);
    const adapter = this.httpAdapterHost!.httpAdapter;
    if (exception instanceof HttpException) {
      adapter.reply(http.getResponse(), { error: messageOf(exception) }, exception.getStatus());
      return;
    }
    // Fastify's errors and the body reader's (a body that is not JSON, too large) carry their 4xx as `statusCode`.
    const status = (exception as { statusCode?: unknown } | null)?.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      adapter.reply(http.getResponse(), { error: (exception as Error).message }, status);
      return;
    }
    this.logger.error({ err: exception, url }, 'inference failed unexpectedly');
    adapter.reply(http.getResponse(), { error: 'internal error' }, HttpStatus.INTERNAL_SERVER_ERROR);
  }
}

function messageOf(exception: HttpException): string {
  const body = exception.getResponse();
  if (typeof body === 'string') return body;
  const message = (body as { message?: unknown }).message;
  if (Array.isArray(message)) return message.join('; ');
  return typeof message === 'string' ? message : exception.message;
}
