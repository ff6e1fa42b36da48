import 'reflect-metadata';
import { MaxJsonBytes, Opaque } from './validation';
import { IsDefined, IsObject, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { NAME_PATTERN } from './deployment';
import { MAX_PREDICT_CONTEXT_BYTES, REQUEST_ID_PATTERN } from './events';

export class PredictBody {
  @IsDefined({ message: 'inputs is required' })
  @Opaque()
  inputs: unknown;

  /** Sticky key for canary bucketing (a user or account id); else the requestId. */
  @IsOptional()
  @IsString()
  @MaxLength(256)
  unitKey?: string;

  @IsOptional()
  @Matches(REQUEST_ID_PATTERN, { message: 'requestId must be 1-128 letters, digits, ".", "_", ":" or "-"' })
  requestId?: string;

  /** What a contextual bandit may read features from besides the inputs (`ContextFeatureSpec.context`); not sent to the model. */
  @IsOptional()
  @IsObject()
  @Opaque()
  @MaxJsonBytes(MAX_PREDICT_CONTEXT_BYTES)
  context?: Record<string, unknown>;
}

export class PromoteBody {
  @Matches(NAME_PATTERN, { message: 'variant must be a variant name' })
  variant: string;
}

export * from './oip/json';
export * from './oip/rules';
export * from './oip/tensors';
export * from './oip/grpc';
export * from './oip/binary';
export * from './oip/event-outputs';

/** Most records one `POST /v1/feedback` may carry. */
export const MAX_FEEDBACK_BATCH = 1000;
