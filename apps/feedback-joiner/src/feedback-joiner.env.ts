import { BaseEnv, Env } from '@switchyard/runtime';
import { DEFAULT_PENDING_LIMITS, PendingLimits } from '@switchyard/store';
import { JOIN_BUCKETS, type UnitCounting } from '@switchyard/strategies';
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

  @Env(
    'Predictions waiting for their feedback, and feedback waiting for its prediction, each kind at most (records, all deployments); past it a record goes to the DLQ with the reason',
  )
  @IsInt()
  @Min(JOIN_BUCKETS)
  JOIN_MAX_PENDING: number = DEFAULT_PENDING_LIMITS.records;

  @Env('The same in bytes of stored JSON, each kind (Redis needs about 2.5 times this: docs/failures.md)')
  @IsInt()
  @Min(JOIN_BUCKETS)
  JOIN_MAX_PENDING_BYTES: number = DEFAULT_PENDING_LIMITS.bytes;

  @Env('Pending records of each kind per deployment at most (feedback naming no deployment counts as one)')
  @IsInt()
  @Min(JOIN_BUCKETS)
  JOIN_MAX_PENDING_PER_DEPLOYMENT: number = DEFAULT_PENDING_LIMITS.recordsPerDeployment;

  @Env('Pending bytes of each kind per deployment at most')
  @IsInt()
  @Min(JOIN_BUCKETS)
  JOIN_MAX_PENDING_BYTES_PER_DEPLOYMENT: number = DEFAULT_PENDING_LIMITS.bytesPerDeployment;

  pendingLimits(): PendingLimits {
    return {
      records: this.JOIN_MAX_PENDING,
      bytes: this.JOIN_MAX_PENDING_BYTES,
      recordsPerDeployment: this.JOIN_MAX_PENDING_PER_DEPLOYMENT,
      bytesPerDeployment: this.JOIN_MAX_PENDING_BYTES_PER_DEPLOYMENT,
    };
  }
}
