import { VARIANT_URL_ALLOW_ENV } from '@switchyard/model-client';
import { BaseEnv, Env } from '@switchyard/runtime';
import { IsInt, IsString, Matches, Max, Min } from 'class-validator';

export class ShadowWorkerEnv extends BaseEnv {
  @Env('HTTP port (health and metrics)')
  @IsInt()
  @Min(0)
  @Max(65535)
  override PORT: number = 3001;

  @Env('Consumer group on the shadow-requests topic')
  @IsString()
  @Matches(/^[A-Za-z0-9._-]+$/)
  SHADOW_GROUP = 'switchyard-shadow-worker';

  @Env('Most shadow model calls in flight at once in this process')
  @IsInt()
  @Min(1)
  @Max(1024)
  SHADOW_CONCURRENCY: number = 32;

  /** The router's: the worker calls the shadows of the specs the router serves, checking each call again. */
  @Env(VARIANT_URL_ALLOW_ENV.help)
  @Matches(VARIANT_URL_ALLOW_ENV.pattern, { message: VARIANT_URL_ALLOW_ENV.message })
  VARIANT_URL_ALLOW = '';
}
