import { CanActivate, ExecutionContext, HttpException, HttpStatus, Injectable } from '@nestjs/common';
import { HOP_HEADER } from '@switchyard/model-client';
import { routerMetrics } from '../router.metrics';

/**
 * A prediction that a router sent (as a variant call, `HOP_HEADER`) is refused: a variant
 * URL pointing back into a router would otherwise loop, one event published at each hop.
 */
@Injectable()
export class HopGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.switchToHttp().getRequest().headers?.[HOP_HEADER] === undefined) return true;
    throw loopRefused();
  }
}

/** The refusal of a call that carries HOP_HEADER (as an HTTP header or gRPC metadata), counted. */
export function loopRefused(): HttpException {
  routerMetrics.loops.inc();
  return new HttpException(
    `this request came from a router (${HOP_HEADER} header): a variant URL points back into a router, which would loop; point it at a model server`,
    HttpStatus.LOOP_DETECTED,
  );
}
