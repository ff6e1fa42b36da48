import { BaseEnv, Env } from '@switchyard/runtime';
import type { UnitCounting } from '@switchyard/strategies';
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
    "The split check counts distinct units on a deterministic 1 in this many of them (docs/statistics.md, 'Sample ratio mismatch'); set once, before traffic: a change miscounts the versions already counting",
  )
  @IsInt()
  @Min(1)
  @Max(1000)
  SRM_UNIT_SAMPLE_EVERY: number = 1;

  @Env('Most distinct units the split check counts per spec version and plan step (all arms together): bounds the set of unit keys kept in Redis')
  @IsInt()
  @Min(1000)
  @Max(10_000_000)
  SRM_UNITS_PER_KEY: number = 100_000;

  /** How the split check's distinct units are counted, live and on a rebuild alike. */
  get unitCounting(): UnitCounting {
    return { sampleEvery: this.SRM_UNIT_SAMPLE_EVERY, maxPerKey: this.SRM_UNITS_PER_KEY };
  }
}
