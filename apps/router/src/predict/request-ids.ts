import { Injectable, Logger } from '@nestjs/common';
import { RedisClient } from '@switchyard/store';
import { RouterEnv } from '../router.env';
import { routerMetrics } from '../router.metrics';

/**
 * Client-supplied request ids, claimed per deployment for REQUEST_ID_WINDOW_SECONDS (the
 * join window): a second prediction under an id would pair a label with the wrong answer.
 * One `SET NX EX` per claim, `{<deployment>}:rid:<requestId>`; generated ids (UUIDs) are
 * unique by construction and never claimed.
 */
@Injectable()
export class RequestIds {
  private readonly logger = new Logger(RequestIds.name);
  private readonly windowSeconds: number;

  constructor(
    private readonly client: RedisClient,
    env: RouterEnv,
  ) {
    this.windowSeconds = env.REQUEST_ID_WINDOW_SECONDS;
  }

  /**
   * False when the id is already taken. A Redis failure lets the request through (counted,
   * logged): predictions do not otherwise depend on Redis, and must not stop with it.
   */
  async claim(deployment: string, requestId: string): Promise<boolean> {
    try {
      return (await this.client.redis.set(this.key(deployment, requestId), '1', 'EX', this.windowSeconds, 'NX')) === 'OK';
    } catch (error) {
      routerMetrics.requestIdsUnchecked.inc({ deployment });
      this.logger.warn({ deployment, error: (error as Error).message }, 'could not claim a request id; served without the uniqueness check');
      return true;
    }
  }

  /** Gives an id back when its request left no prediction (refused inputs, not recorded), so the client may retry with it. */
  async release(deployment: string, requestId: string): Promise<void> {
    await this.client.redis.del(this.key(deployment, requestId)).catch(() => undefined);
  }

  private key(deployment: string, requestId: string): string {
    return this.client.deploymentKey(deployment, `rid:${requestId}`);
  }
}
