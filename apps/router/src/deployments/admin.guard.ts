import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { RouterEnv } from '../router.env';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** When ADMIN_API_KEY is set, control-plane routes need `Authorization: Bearer <key>`. */
@Injectable()
export class AdminGuard implements CanActivate {
  private readonly expected?: Buffer;

  constructor(env: RouterEnv) {
    this.expected = env.ADMIN_API_KEY === undefined ? undefined : digest(env.ADMIN_API_KEY);
  }

  canActivate(context: ExecutionContext): boolean {
    if (!this.expected) return true;
    const header: unknown = context.switchToHttp().getRequest().headers?.authorization;
    const presented = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : '';
    // Comparing fixed-length digests keeps the comparison constant-time whatever was sent.
    if (!timingSafeEqual(digest(presented), this.expected)) {
      throw new UnauthorizedException('control-plane routes need "Authorization: Bearer <ADMIN_API_KEY>"');
    }
    return true;
  }
}
