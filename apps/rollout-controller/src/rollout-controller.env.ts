import { BaseEnv, Env } from '@switchyard/runtime';
import { IsInt, Max, Min } from 'class-validator';

export class RolloutControllerEnv extends BaseEnv {
  @Env('HTTP port (health and metrics)')
  @IsInt()
  @Min(0)
  @Max(65535)
  override PORT: number = 3004;

  @Env('How often (ms) every deployment with guardrails is judged')
  @IsInt()
  @Min(100)
  @Max(600000)
  ROLLOUT_INTERVAL_MS: number = 2000;

  @Env('How long (ms) a controller keeps a deployment after its last pass; another controller takes it over after that')
  @IsInt()
  @Min(1000)
  @Max(3600000)
  ROLLOUT_LEASE_MS: number = 10000;
}
