import { BaseEnv, Env } from '@switchyard/runtime';
import { IsInt, Max, Min } from 'class-validator';

export class FeedbackJoinerEnv extends BaseEnv {
  @Env('HTTP port (health and metrics)')
  @IsInt()
  @Min(0)
  @Max(65535)
  override PORT: number = 3002;
}
