import { CallHandler, Injectable, NestInterceptor } from '@nestjs/common';
import { map, Observable } from 'rxjs';
import { withMaskedUrls } from '@switchyard/contracts';

/**
 * Variant URLs may carry credentials (`https://user:password@host`): every answer of the
 * deployments API shows them masked, so a reader of specs learns no model server's secret.
 */
@Injectable()
export class MaskedUrls implements NestInterceptor {
  intercept(_context: unknown, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(map(shown));
  }
}

/** A spec (anything with `variants`) or a list of them (`{deployments}`), masked; any other answer as it is. */
function shown(body: unknown): unknown {
  const answer = body as { variants?: unknown; deployments?: unknown } | null | undefined;
  if (Array.isArray(answer?.variants)) return withMaskedUrls(answer as { variants: { url: string }[] });
  if (Array.isArray(answer?.deployments)) return { ...answer, deployments: answer.deployments.map(shown) };
  return body;
}
