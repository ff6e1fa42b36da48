import 'reflect-metadata';
import { Type } from 'class-transformer';
import { Opaque } from './validation';
import { ArrayMinSize, IsArray, IsDefined, IsIn, IsInt, IsOptional, IsString, Matches, MaxLength, Min, ValidateNested } from 'class-validator';
import { NAME_PATTERN } from './deployment';
import { REQUEST_ID_PATTERN } from './events';

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
}

export class PromoteBody {
  @Matches(NAME_PATTERN, { message: 'variant must be a variant name' })
  variant: string;
}

export const OIP_DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'] as const;

/** One tensor of an Open Inference Protocol (KServe v2) request. */
export class InferTensor {
  @IsString()
  name: string;

  @IsArray()
  @IsInt({ each: true })
  @Min(0, { each: true })
  shape: number[];

  @IsIn(OIP_DATATYPES)
  datatype: string;

  @IsOptional()
  @Opaque()
  parameters?: Record<string, unknown>;

  @IsArray()
  @Opaque()
  data: unknown[];
}

export class InferRequest {
  @IsOptional()
  @Matches(REQUEST_ID_PATTERN, { message: 'id must be 1-128 letters, digits, ".", "_", ":" or "-"' })
  id?: string;

  @IsArray()
  @ArrayMinSize(1)
  @ValidateNested({ each: true })
  @Type(() => InferTensor)
  inputs: InferTensor[];

  @IsOptional()
  @Opaque()
  parameters?: Record<string, unknown>;

  @IsOptional()
  @Opaque()
  outputs?: unknown[];
}

export interface InferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, unknown>;
  outputs: { name: string; shape: number[]; datatype: string; data: unknown[] }[];
}

/** Most records one `POST /v1/feedback` may carry. */
export const MAX_FEEDBACK_BATCH = 1000;
