import { CanActivate, ExecutionContext, Injectable, Logger, UnauthorizedException } from '@nestjs/common';
import { RouterEnv } from '../router.env';
import { BearerKeys } from './bearer-keys';

const authorization = (context: ExecutionContext): unknown => context.switchToHttp().getRequest().headers?.authorization;

/**
 * Control-plane routes (PUT, DELETE, promote, rollback, plan actions): closed by default.
 * They need one of ADMIN_API_KEY's keys; a router without any refuses them all, unless
 * ADMIN_AUTH=off says on purpose that anyone who can reach it may change deployments.
 */
@Injectable()
export class AdminGuard implements CanActivate {
  private readonly keys: BearerKeys;
  private readonly open: boolean;

  constructor(env: RouterEnv) {
    this.keys = new BearerKeys(env.ADMIN_API_KEY);
    this.open = env.ADMIN_AUTH === 'off';
    if (this.open)
      new Logger(AdminGuard.name).warn('ADMIN_AUTH=off: the control plane is open to anyone who can reach this router; for local experiments only');
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.open) return true;
    if (!this.keys.configured) {
      throw new UnauthorizedException(
        'the control plane is closed: this router has no ADMIN_API_KEY (npm run up writes one to .switchyard/admin-key; ADMIN_AUTH=off opens it for local experiments)',
      );
    }
    if (!this.keys.accepts(authorization(context))) throw new UnauthorizedException('control-plane routes need "Authorization: Bearer <ADMIN_API_KEY>"');
    return true;
  }
}

/**
 * `POST /v1/feedback`: closed by default, since labels steer bandits and verdicts. It takes
 * a FEEDBACK_API_KEY key (what a labelling pipeline holds) or an ADMIN_API_KEY key (who may
 * change deployments may label them); FEEDBACK_AUTH=off opens it on a closed network.
 */
@Injectable()
export class FeedbackGuard implements CanActivate {
  private readonly keys: BearerKeys;
  private readonly open: boolean;

  constructor(env: RouterEnv) {
    this.keys = new BearerKeys([env.FEEDBACK_API_KEY, env.ADMIN_API_KEY].filter(Boolean).join(','));
    this.open = env.FEEDBACK_AUTH === 'off';
    if (this.open) new Logger(FeedbackGuard.name).warn('FEEDBACK_AUTH=off: anyone who can reach this router may send feedback; for closed networks only');
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.open) return true;
    if (!this.keys.configured) {
      throw new UnauthorizedException(
        'feedback is closed: this router has no FEEDBACK_API_KEY nor ADMIN_API_KEY (npm run up writes one to .switchyard/feedback-key; FEEDBACK_AUTH=off opens it on a closed network)',
      );
    }
    if (!this.keys.accepts(authorization(context)))
      throw new UnauthorizedException('feedback needs "Authorization: Bearer <FEEDBACK_API_KEY>" (or an ADMIN_API_KEY)');
    return true;
  }
}

/** The keys that may read: READ_API_KEY's, and ADMIN_API_KEY's (whoever may change deployments may read them). */
function readOrAdminKeys(env: RouterEnv): BearerKeys {
  return new BearerKeys([env.READ_API_KEY, env.ADMIN_API_KEY].filter(Boolean).join(','));
}

/**
 * Reads (the deployments, their history and verdicts, Flagger's hooks): open while
 * READ_API_KEY is unset, as they always were; once it is set, they need one of its keys or
 * an admin key.
 */
@Injectable()
export class ReadGuard implements CanActivate {
  private readonly readKeys: BearerKeys;
  private readonly keys: BearerKeys;

  constructor(env: RouterEnv) {
    this.readKeys = new BearerKeys(env.READ_API_KEY);
    this.keys = readOrAdminKeys(env);
  }

  /** What the caller presented, as an `Authorization` header value. */
  protected credential(context: ExecutionContext): unknown {
    return authorization(context);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.readKeys.configured && !this.keys.accepts(this.credential(context))) {
      throw new UnauthorizedException('reads need "Authorization: Bearer <READ_API_KEY>" (or the admin key)');
    }
    return true;
  }
}

/**
 * Flagger's webhooks: Flagger sends no headers of the Canary's choosing (fluxcd/flagger
 * pkg/controller/webhook.go sets only Content-Type), only the webhook's `metadata`, so the
 * key comes as `metadata.token` (the name Flagger's own docs use), else as a header.
 */
@Injectable()
export class FlaggerReadGuard extends ReadGuard {
  protected override credential(context: ExecutionContext): unknown {
    const token = (context.switchToHttp().getRequest().body as { metadata?: { token?: unknown } } | undefined)?.metadata?.token;
    return typeof token === 'string' ? `Bearer ${token}` : authorization(context);
  }
}

/**
 * `evaluate` reads the whole logged traffic of a deployment from Kafka: it always needs a
 * key, a read key or an admin key. A router with neither refuses it, as it refuses the
 * control plane, unless ADMIN_AUTH=off opened both on purpose.
 */
@Injectable()
export class EvaluateGuard implements CanActivate {
  private readonly keys: BearerKeys;
  private readonly open: boolean;

  constructor(env: RouterEnv) {
    this.keys = readOrAdminKeys(env);
    this.open = env.ADMIN_AUTH === 'off' && !this.keys.configured;
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.open) return true;
    if (!this.keys.configured) {
      throw new UnauthorizedException(
        'evaluate is closed: this router has neither READ_API_KEY nor ADMIN_API_KEY (npm run up writes an admin key to .switchyard/admin-key; ADMIN_AUTH=off opens it for local experiments)',
      );
    }
    if (!this.keys.accepts(authorization(context))) throw new UnauthorizedException('evaluate needs "Authorization: Bearer <READ_API_KEY>" or the admin key');
    return true;
  }
}
