import { IsInt, IsNumber, IsOptional, Max, Min } from 'class-validator';
import { BaseEnv, Env } from '@switchyard/runtime';

/**
 * The model-server reads no Kafka or Redis variable; it inherits them only to share
 * `--help` and validation. Numeric fields are annotated `: number` on purpose: the
 * emitted `design:type` is what lets `loadEnv` convert the environment's text to numbers
 * (an inferred type emits `Object`, and "9100" then fails `@IsInt`).
 */
export class ModelServerEnv extends BaseEnv {
  @Env('HTTP port of the inference API, health and metrics')
  PORT: number = 9000;

  @Env(
    "Port of the Open Inference Protocol's gRPC service (inference.GRPCInferenceService; Triton's is 8001), on HOST; 0 picks a free port. Unset: no gRPC service. Its messages are bounded by MAX_BODY_BYTES",
  )
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(65535)
  GRPC_PORT?: number;

  @Env("Delay (ms) before every inference answer, on top of a model's own (benchmarks, timeout tests)")
  @IsInt()
  @Min(0)
  @Max(60000)
  MODEL_LATENCY_MS: number = 0;

  @Env('Share of inferences answered with HTTP 500 at random, from 0 to 1 (failure tests)')
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  MODEL_FAIL_RATE: number = 0;
}
