import { BaseEnv, Env } from '@switchyard/runtime';
import { IsInt, IsString, Matches, Max, Min } from 'class-validator';

export class FeedbackJoinerEnv extends BaseEnv {
  @Env('HTTP port (health and metrics)')
  @IsInt()
  @Min(0)
  @Max(65535)
  override PORT: number = 3002;

  @Env('Consumer group on the predictions, shadow-predictions and feedback topics')
  @IsString()
  @Matches(/^[A-Za-z0-9._-]+$/)
  JOIN_GROUP = 'switchyard-feedback-joiner';

  @Env('How long (seconds) after the first of a prediction or its feedback the other may still arrive and join')
  @IsInt()
  @Min(1)
  @Max(30 * 24 * 3600)
  JOIN_WINDOW_SECONDS: number = 3600;

  @Env('How often (ms) expired join state is counted (unmatched feedback, unlabelled predictions) and removed, and Redis checked for lost join state')
  @IsInt()
  @Min(100)
  @Max(600000)
  JOIN_SWEEP_INTERVAL_MS: number = 5000;

  @Env(
    'How often (ms) the report counters are checkpointed to the compacted checkpoints topic, so a rebuild after Redis loss reads the latest checkpoint plus what came after it',
  )
  @IsInt()
  @Min(1000)
  @Max(24 * 3600 * 1000)
  CHECKPOINT_INTERVAL_MS: number = 60000;
}
