import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { DEFAULT_OIP_REQUEST_LIMITS } from '@switchyard/contracts';
import { VARIANT_URL_ALLOW_ENV } from '@switchyard/model-client';
import { BaseEnv, Env, Secret } from '@switchyard/runtime';
import { KEY_LIST } from './auth/bearer-keys';

export const PUBLISH_MODES = ['durable', 'fast', 'off'] as const;

export class RouterEnv extends BaseEnv {
  @Env(
    'Bearer keys of the control plane (PUT, DELETE, promote, rollback, plan actions), comma-separated so an old and a new key both work during a rotation, each at least 16 characters; without any, control-plane calls get 401 unless ADMIN_AUTH=off',
  )
  @Secret()
  @IsOptional()
  @Matches(KEY_LIST, { message: 'ADMIN_API_KEY must be comma-separated keys of at least 16 characters, no spaces' })
  ADMIN_API_KEY?: string;

  @Env('off: the control plane needs no key (local experiments only; logged as a warning at boot)')
  @IsIn(['on', 'off'])
  ADMIN_AUTH: 'on' | 'off' = 'on';

  @Env(
    'Bearer keys POST /v1/feedback accepts besides the ADMIN_API_KEY keys, comma-separated; with neither, HTTP feedback gets 401 unless FEEDBACK_AUTH=off (Kafka feedback is trusted as the topic ACLs allow)',
  )
  @Secret()
  @IsOptional()
  @Matches(KEY_LIST, { message: 'FEEDBACK_API_KEY must be comma-separated keys of at least 16 characters, no spaces' })
  FEEDBACK_API_KEY?: string;

  @Env(
    "Bearer keys of the read API (GET /v1/deployments…, the verdict and Flagger hooks, the dashboard's calls, evaluate), comma-separated, each at least 16 characters; the admin keys are accepted too. Unset: reads are open, and evaluate takes the admin key only",
  )
  @Secret()
  @IsOptional()
  @Matches(KEY_LIST, { message: 'READ_API_KEY must be comma-separated keys of at least 16 characters, no spaces' })
  READ_API_KEY?: string;

  @Env(
    "Key of the feedback tokens (HMAC-SHA256) of deployments with feedback.requireToken, at least 16 characters; every router serving such a deployment needs the same one (npm run up writes one to .switchyard/feedback-token-secret). Unset: a PUT asking for tokens gets 400, and such a deployment's predictions 503",
  )
  @Secret()
  @IsOptional()
  @Matches(/^\S{16,}$/, { message: 'FEEDBACK_TOKEN_SECRET must be at least 16 characters, no spaces' })
  FEEDBACK_TOKEN_SECRET?: string;

  @Env('off: POST /v1/feedback needs no key (closed networks only; logged as a warning at boot)')
  @IsIn(['on', 'off'])
  FEEDBACK_AUTH: 'on' | 'off' = 'on';

  @Env(VARIANT_URL_ALLOW_ENV.help)
  @Matches(VARIANT_URL_ALLOW_ENV.pattern, { message: VARIANT_URL_ALLOW_ENV.message })
  VARIANT_URL_ALLOW = '';

  @Env('Topics a Kafka-ingress reply-to header may name: the responses topic and those that start with this (default: <TOPIC_PREFIX>responses)')
  @IsOptional()
  @Matches(/^[A-Za-z0-9._-]+$/)
  REPLY_TOPIC_PREFIX?: string;

  @Env(
    'durable: a prediction answers after Kafka acknowledged its event; fast: answers at once, and an event is lost only if the router dies before the next batch is sent; off: no events at all (load tests only: no shadows, joins or bandit learning)',
  )
  @IsIn(PUBLISH_MODES)
  PUBLISH_MODE: (typeof PUBLISH_MODES)[number] = 'durable';

  /**
   * A fast answer does not wait for its event's produce request, so a longer linger costs
   * callers nothing and fills requests. The broker's cost goes by the batch per partition
   * it appends (bench, issue #18: ≈ 110 µs per event at 1000 req/s with 8 events a request
   * spread over 6 partitions), so a fast router lingers up to 20 ms for up to 64 events.
   * The events at risk when the router dies are those of the last 20 ms instead of 2.
   */
  override producerBatching(): { lingerMs: number; targetBatch?: number } {
    return this.PUBLISH_MODE === 'fast' ? { lingerMs: this.PRODUCER_LINGER_MS ?? 20, targetBatch: 64 } : super.producerBatching();
  }

  @Env('How often (ms) the router checks Redis for spec changes it missed and re-reads bandit weights')
  @IsInt()
  @Min(100)
  @Max(60000)
  REFRESH_INTERVAL_MS: number = 1000;

  @Env(
    'Largest Open Inference Protocol request body (/v2 routes) and gRPC message, in bytes: tensors sent as JSON are large (a 224×224×3 FP32 image is ≈ 1.3 MB); a larger one gets 413 (gRPC: RESOURCE_EXHAUSTED)',
  )
  @IsInt()
  @Min(1024)
  @Max(1024 * 1024 * 1024)
  V2_MAX_BODY_BYTES: number = 32 * 1024 * 1024;

  @Env('Most records of the joined topic one evaluate scans (all deployments, between since and until); a larger window gets 422 asking to narrow it')
  @IsInt()
  @Min(1)
  EVALUATE_MAX_RECORDS: number = 5_000_000;

  @Env('Most bytes of the joined topic one evaluate reads; past them it stops with 422 asking to narrow the window')
  @IsInt()
  @Min(1024)
  EVALUATE_MAX_BYTES: number = 2 * 1024 * 1024 * 1024;

  @Env('Most tensors an Open Inference Protocol request may send as inputs (or name as outputs); more get 400 before any tensor is read')
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  OIP_MAX_TENSORS: number = DEFAULT_OIP_REQUEST_LIMITS.maxTensors;

  @Env('Most elements the input tensors of one Open Inference Protocol request may declare together (their shapes); more get 400 before any tensor is read')
  @IsInt()
  @Min(1)
  @Max(2 ** 31)
  OIP_MAX_ELEMENTS: number = DEFAULT_OIP_REQUEST_LIMITS.maxElements;

  @Env(
    "Port of the Open Inference Protocol's gRPC service (inference.GRPCInferenceService; Triton's is 8001), on HOST; 0 picks a free port. Unset: no gRPC service. Its messages are bounded by V2_MAX_BODY_BYTES",
  )
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(65535)
  GRPC_PORT?: number;

  @Env(
    "How long (s) a client-supplied request id stays taken for its deployment (a second predict with it gets 409); keep it at least the joiner's JOIN_WINDOW_SECONDS",
  )
  @IsInt()
  @Min(1)
  @Max(30 * 24 * 3600)
  REQUEST_ID_WINDOW_SECONDS: number = 3600;

  @Env(
    "How long (ms) a PUT waits for each variant's model to say it is ready (OIP GET /v2/models/{model}/ready; a json variant's server to answer) before refusing the spec with 422; ?force=true skips the check",
  )
  @IsInt()
  @Min(100)
  @Max(60000)
  MODEL_PROBE_TIMEOUT_MS: number = 2000;

  @Env('Consume Kafka ingress on the requests topic (true/false)')
  @IsIn(['true', 'false'])
  KAFKA_INGRESS = 'true';

  @Env('Consumer group of the Kafka ingress')
  @IsString()
  INGRESS_GROUP = 'switchyard-router';
}
