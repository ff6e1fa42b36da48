import { Injectable } from '@nestjs/common';
import { isValidName } from '@switchyard/contracts';
import { RedisClient } from './redis.client';

/**
 * The deployment report's counters, one hash per deployment (`report:<deployment>`) with
 * fields `<variant>:<role>:requests|errors|lat:<bucket>|compared|agree`. The feedback
 * joiner adds to it as it first stores each prediction; the router reads it.
 */
@Injectable()
export class ReportStore {
  constructor(private readonly client: RedisClient) {}

  key(deployment: string): string {
    if (!isValidName(deployment)) throw new Error(`invalid deployment name ${JSON.stringify(deployment)}`);
    return `${this.client.prefix}report:${deployment}`;
  }

  read(deployment: string): Promise<Record<string, string>> {
    return this.client.redis.hgetall(this.key(deployment));
  }
}
