import { BaseEnv, Env } from '@switchyard/runtime';
import { IsInt, IsString, Matches, Max, Min } from 'class-validator';

export class BanditUpdaterEnv extends BaseEnv {
  @Env('HTTP port (health and metrics)')
  @IsInt()
  @Min(0)
  @Max(65535)
  override PORT: number = 3003;

  @Env('Consumer group on the joined topic')
  @IsString()
  @Matches(/^[A-Za-z0-9._-]+$/)
  UPDATE_GROUP = 'switchyard-bandit-updater';

  @Env("How long (seconds) a deleted deployment's tombstone is kept, so its late rewards do not bring its statistics back")
  @IsInt()
  @Min(60)
  @Max(365 * 24 * 3600)
  TOMBSTONE_TTL_SECONDS: number = 7 * 24 * 3600;

  /**
   * A bandit learns from rewards only once they are in its weights: half this interval is
   * added to the feedback delay on average. At 1000 ms the regret bench's real loop lost
   * 1.2× (median) to 2.3× (worst of 5) the instant-feedback reference at 50 req/s; a
   * snapshot costs about a millisecond of CPU, a few Redis commands and one event on
   * deployment-events, and only while the deployment's statistics change.
   */
  @Env(
    'The weights of a bandit deployment are computed (stored in Redis for the routers, and published to deployment-events) at most once per this many ms, when its statistics or arms changed',
  )
  @IsInt()
  @Min(100)
  @Max(3600000)
  SNAPSHOT_INTERVAL_MS: number = 250;

  /**
   * A step is judged on predictions served at least its label horizon ago, slot by slot
   * (the slot's end must be that old): a slot adds up to its width to the wait. Each slot
   * of each step is three fields per arm in the cohort hash, so much narrower slots cost
   * memory and the controller's reads.
   */
  @Env('Width (seconds) of the slots of serve time reward statistics are kept by per plan step (or spec version); keep it well below the shortest labelHorizon')
  @IsInt()
  @Min(1)
  @Max(24 * 3600)
  COHORT_BUCKET_SECONDS: number = 600;

  /**
   * A shadow step's (or paired canary's) served and shadow rewards of one request are joined to the same
   * feedback, each within the joiner's window (JOIN_WINDOW_SECONDS), so the second half
   * comes within about that long of the first; a half is held one to two of these periods
   * (`heldGeneration`). Memory: one hash field per request of a shadow step (a paired canary's canary requests) per period.
   */
  @Env(
    "How long (seconds) a shadow step's or paired canary's reward waits for the other arm's reward of the same request, to be judged as a pair; keep it at least the joiner's JOIN_WINDOW_SECONDS",
  )
  @IsInt()
  @Min(1)
  @Max(7 * 24 * 3600)
  PAIR_HOLD_SECONDS: number = 3600;

  @Env('How often (ms) the arm sets are checked against the specs, for changes the pub/sub announcement missed')
  @IsInt()
  @Min(100)
  @Max(600000)
  RECONCILE_INTERVAL_MS: number = 5000;

  @Env(
    'How often (ms) the reward statistics are checkpointed to the compacted checkpoints topic, so a rebuild after Redis loss reads the latest checkpoint plus what came after it',
  )
  @IsInt()
  @Min(1000)
  @Max(24 * 3600 * 1000)
  CHECKPOINT_INTERVAL_MS: number = 60000;
}
