import { IsIn, IsInt, IsOptional, IsString, Max, Min, MinLength } from 'class-validator';
import { BaseEnv, Env } from '@switchyard/runtime';

export const PUBLISH_MODES = ['durable', 'fast', 'off'] as const;

export class RouterEnv extends BaseEnv {
  @Env('Bearer key required by control-plane routes (PUT, DELETE, promote, rollback); unset = open')
  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'ADMIN_API_KEY must be at least 16 characters' })
  ADMIN_API_KEY?: string;

  @Env('durable: a prediction answers after Kafka acknowledged its event; fast: answers at once, and an event is lost only if the router dies before the next batch is sent; off: no events at all (load tests only: no shadows, joins or bandit learning)')
  @IsIn(PUBLISH_MODES)
  PUBLISH_MODE: (typeof PUBLISH_MODES)[number] = 'durable';

  @Env('How often (ms) the router checks Redis for spec changes it missed and re-reads bandit weights')
  @IsInt()
  @Min(100)
  @Max(60000)
  REFRESH_INTERVAL_MS: number = 1000;

  @Env('Consume Kafka ingress on the requests topic (true/false)')
  @IsIn(['true', 'false'])
  KAFKA_INGRESS = 'true';

  @Env('Consumer group of the Kafka ingress')
  @IsString()
  INGRESS_GROUP = 'switchyard-router';
}
