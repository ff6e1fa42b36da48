import 'reflect-metadata';
import { Type } from 'class-transformer';
import { FiniteNumbers, MaxJsonBytes, Opaque } from './validation';
import { IsArray, IsBoolean, IsDefined, IsIn, IsInt, IsISO8601, IsNumber, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { DeploymentSpec, DeploymentStatus, MAX_CONTEXT_DIMENSION, NAME_PATTERN, STRATEGY_TYPES, StrategyType } from './deployment';

/** Request ids become Kafka keys and Redis key parts: printable, bounded. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const REQUEST_ID_RULE = 'requestId must be 1-128 letters, digits, ".", "_", ":" or "-"';

/** Fields every event carries; `version` is the schema version of its `type`. */
export class EventEnvelope {
  @IsString()
  type: string;

  @IsInt()
  @Min(1)
  version: number;

  @IsString()
  eventId: string;

  @IsISO8601()
  occurredAt: string;
}

export const EVENT_TYPES = {
  prediction: 'prediction',
  shadowRequest: 'shadow-request',
  feedback: 'feedback',
  joined: 'joined',
  deployment: 'deployment',
  decision: 'decision',
  specChange: 'spec-change',
} as const;

/** Bumped on purpose only, when a field's meaning changes; consumers check it. */
export const SCHEMA_VERSIONS = {
  prediction: 1,
  shadowRequest: 1,
  feedback: 1,
  joined: 1,
  deployment: 1,
  decision: 1,
  specChange: 1,
} as const;

export const ROLES = ['served', 'shadow'] as const;
export type Role = (typeof ROLES)[number];

export class PredictionEvent extends EventEnvelope {
  @Matches(REQUEST_ID_PATTERN, { message: REQUEST_ID_RULE })
  requestId: string;

  @Matches(NAME_PATTERN)
  deployment: string;

  @Matches(NAME_PATTERN)
  variant: string;

  @IsIn(ROLES)
  role: Role;

  @IsIn(STRATEGY_TYPES)
  strategy: StrategyType;

  @IsInt()
  @Min(1)
  specVersion: number;

  /**
   * Probability with which the strategy chose `fallbackFrom ?? variant`, for off-policy
   * evaluation: when a fallback answered, the propensity is the chosen (failed) arm's.
   */
  @IsNumber()
  @Min(0)
  @Max(1)
  probability: number;

  @IsOptional()
  @Opaque()
  outputs?: unknown;

  /**
   * Set when the outputs, even summarized (eventOutputs), would have made the event larger
   * than a Kafka record may be (MAX_EVENT_BYTES): `outputs` is then left out, and no reward
   * can be read from them.
   */
  @IsOptional()
  @IsBoolean()
  outputsTrimmed?: boolean;

  @IsNumber()
  @Min(0)
  latencyMs: number;

  @IsOptional()
  @IsString()
  error?: string;

  /** Variant the strategy chose, which failed and was answered for by `variant`; such events are left out of bandit statistics and off-policy evaluation. */
  @IsOptional()
  @Matches(NAME_PATTERN)
  fallbackFrom?: string;

  @IsOptional()
  @IsString()
  @MaxLength(256)
  unitKey?: string;

  /** Shadow predictions only: whether the answer equals the primary's (at the reward's outputPath). */
  @IsOptional()
  @IsBoolean()
  agreesWithPrimary?: boolean;

  /**
   * Plans past their first step only: the step (rollout status) it was served under. A step
   * is no spec version: with `specVersion`, it is what the split check counts requests by.
   */
  @IsOptional()
  @IsInt()
  @Min(1)
  step?: number;

  /**
   * Bandit predictions only: the version of the stored weights the variant was drawn
   * from (the `weightsVersion` of the updater's `weights` snapshot on deployment-events);
   * absent while no weights were computed yet and every arm got the same share.
   */
  @IsOptional()
  @IsInt()
  @Min(1)
  weightsVersion?: number;

  /**
   * Contextual bandit predictions only: the request's encoded context (`extractContext`:
   * 1, then each declared feature, categorical ones one-hot), which the variant was drawn
   * for with `probability`. The updater learns the arm's reward model from it once joined;
   * absent when the request's context could not be read and the context-free weights chose.
   */
  @IsOptional()
  @FiniteNumbers(1, MAX_CONTEXT_DIMENSION)
  context?: number[];
}

/** Largest predict `context` object, as JSON: a few features, not a document. */
export const MAX_PREDICT_CONTEXT_BYTES = 4096;

/** What producers write to `switchyard.requests` (Kafka ingress). */
export class PredictRequestMessage {
  @Matches(REQUEST_ID_PATTERN, { message: REQUEST_ID_RULE })
  requestId: string;

  @Matches(NAME_PATTERN, { message: 'deployment must be a deployment name' })
  deployment: string;

  @IsDefined({ message: 'inputs is required' })
  @Opaque()
  inputs: unknown;

  @IsOptional()
  @IsString()
  @MaxLength(256)
  unitKey?: string;

  /** What a contextual bandit may read features from besides the inputs, as in the HTTP predict body. */
  @IsOptional()
  @IsObject()
  @Opaque()
  @MaxJsonBytes(MAX_PREDICT_CONTEXT_BYTES)
  context?: Record<string, unknown>;
}

export interface PredictResponse {
  requestId: string;
  deployment: string;
  variant: string;
  outputs: unknown;
  /** An OIP model's response-level `parameters`, when it gave any. */
  parameters?: Record<string, unknown>;
  /** Deployments with `feedback.requireToken`: what feedback for this prediction must present (`feedbackToken`). */
  feedbackToken?: string;
  /** OIP route only: the bytes of the outputs that have `parameters.binary_data_size` (Triton's binary extension). */
  binary?: Buffer;
}

export interface ErrorResponse {
  requestId: string;
  error: string;
}

export class ShadowRequestEvent extends EventEnvelope {
  @Matches(REQUEST_ID_PATTERN, { message: REQUEST_ID_RULE })
  requestId: string;

  @Matches(NAME_PATTERN)
  deployment: string;

  @IsInt()
  @Min(1)
  specVersion: number;

  @IsDefined()
  @Opaque()
  inputs: unknown;

  /**
   * The bytes of the inputs that have `parameters.binary_data_size` (Triton's binary
   * extension), base64: the shadows get them as the primary did.
   */
  @IsOptional()
  @IsString()
  binaryInputs?: string;

  /** Primary's answer (as prediction events carry it: binary outputs as eventOutputs gives them), so the shadow report can measure agreement without a join. */
  @IsOptional()
  @Opaque()
  primaryOutputs?: unknown;

  /**
   * The OIP request's `parameters` and requested `outputs` (the `/v2` ingress), which the
   * shadows get as the primary got them; absent for other requests.
   */
  @IsOptional()
  @IsObject()
  @Opaque()
  extras?: { parameters?: Record<string, unknown>; outputs?: { name: string; parameters?: Record<string, unknown> }[] };

  @IsArray()
  @Matches(NAME_PATTERN, { each: true })
  shadows: string[];

  /**
   * The served prediction's `step` (plans past their first step only), which the shadows'
   * predictions carry too: their rewards then count under the same `splitKey` as the
   * served one, and pair with it.
   */
  @IsOptional()
  @IsInt()
  @Min(1)
  step?: number;
}

/** Largest label accepted, as JSON: enough for a class, a number, a small structure. */
export const MAX_LABEL_BYTES = 16 * 1024;

/** Ground truth for one request: a label to compare with, or a reward given outright. */
export class FeedbackInput {
  @Matches(REQUEST_ID_PATTERN, { message: REQUEST_ID_RULE })
  requestId: string;

  /**
   * The deployment this is ground truth for: it joins only that deployment's prediction of
   * the request. Absent, it joins every deployment's prediction of the request (request
   * ids unique across deployments need no more).
   */
  @IsOptional()
  @Matches(NAME_PATTERN, { message: 'deployment must be a deployment name' })
  deployment?: string;

  @IsOptional()
  @Opaque()
  @MaxJsonBytes(MAX_LABEL_BYTES)
  label?: unknown;

  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  reward?: number;

  /**
   * The prediction answer's `feedbackToken`: required over HTTP by a deployment with
   * `feedback.requireToken`, checked by the router and not passed on.
   */
  @IsOptional()
  @IsString()
  @MaxLength(128)
  feedbackToken?: string;
}

/** Feedback is ground truth only with a label or a reward (either may be absent alone, not both): the problem, or undefined. */
export function feedbackProblem({ label, reward }: Pick<FeedbackInput, 'label' | 'reward'>): string | undefined {
  return label === undefined && reward === undefined ? 'feedback needs a label or a reward' : undefined;
}

export class FeedbackEvent extends FeedbackInput {
  @IsOptional()
  @IsString()
  type?: string;

  @IsOptional()
  @IsInt()
  version?: number;

  @IsOptional()
  @IsString()
  eventId?: string;

  @IsOptional()
  @IsISO8601()
  occurredAt?: string;
}

export class JoinedEvent extends PredictionEvent {
  @IsOptional()
  @Opaque()
  label?: unknown;

  @IsNumber()
  reward: number;

  @IsISO8601()
  predictedAt: string;

  @IsISO8601()
  feedbackAt: string;
}

export const DEPLOYMENT_ACTIONS = ['put', 'delete', 'promote', 'rollback', 'retry', 'weights', 'plan-pause', 'plan-resume', 'plan-abort'] as const;
export type DeploymentAction = (typeof DEPLOYMENT_ACTIONS)[number];

export class DeploymentEvent extends EventEnvelope {
  @Matches(NAME_PATTERN)
  deployment: string;

  @IsIn(DEPLOYMENT_ACTIONS)
  action: DeploymentAction;

  @IsOptional()
  @IsInt()
  specVersion?: number;

  @IsOptional()
  @IsObject()
  @Type(() => Object)
  detail?: Record<string, unknown>;
}

/** Where a Kafka record was, and what it held, as text. */
export interface KafkaRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

/**
 * Longest parts a DLQ record keeps, in characters: `value`, `key`, and all header names
 * and values together. JSON escaping can make a character six bytes (`\u0001`), and the
 * broker refuses a record past its `message.max.bytes` (1 MiB by default): a DLQ write
 * that fails is retried for ever and stalls the partition. With these bounds a record
 * stays under ≈ 500 KB whatever it was built from.
 */
export const MAX_DLQ_VALUE_CHARS = 64 * 1024;
export const MAX_DLQ_KEY_CHARS = 1024;
export const MAX_DLQ_HEADERS_CHARS = 16 * 1024;

/** A record a consumer gave up on, with why. */
export interface DlqRecord extends KafkaRecord {
  error: string;
  consumerGroup: string;
  failedAt: string;
  /** Poison messages only: how many times handling it failed before it was sent here. */
  attempts?: number;
  /** Set when `value` holds only the first MAX_DLQ_VALUE_CHARS characters: the original's size in bytes. */
  valueBytes?: number;
  /** Set when `key` holds only the first MAX_DLQ_KEY_CHARS characters: the original's size in bytes. */
  keyBytes?: number;
  /** Set when `headers` holds only the first headers that fit in MAX_DLQ_HEADERS_CHARS: the original names' and values' size in bytes. */
  headersBytes?: number;
}

/** A DLQ record whose value, key and headers are whole, so that it can be published again as it was received. */
export const isWholeDlqRecord = (record: DlqRecord): boolean =>
  record.valueBytes === undefined && record.keyBytes === undefined && record.headersBytes === undefined;

/**
 * What the rollout controller may do (docs/strategies.md, "Guardrails" and "Plans"); `veto`
 * holds a bandit arm at its floor after it failed a guardrail against the best arm.
 * `resume`, `abort` and `retry` are an operator's only (`DecisionEvent.operator`).
 */
export const DECISION_ACTIONS = ['rollback', 'promote', 'advance', 'pause', 'hold', 'veto', 'resume', 'abort', 'retry'] as const;
export type DecisionAction = (typeof DECISION_ACTIONS)[number];

/** The numbers a decision was taken on; `null` where there was nothing to compute yet. */
export interface DecisionEvidence {
  metric: 'reward';
  /** Labelled pairs per arm counted by the comparison (`v2:shadow` for a shadow). */
  n: Record<string, number>;
  mean: Record<string, number>;
  /** Candidate − primary, and its always-valid interval. */
  delta: number | null;
  low: number | null;
  high: number | null;
  /** The interval is on paired differences (a shadow step, or a paired canary: both arms answered the same requests); absent, on the two arms apart. */
  paired?: true;
  alpha: number;
  /** Sample-ratio-mismatch p-value of the served split (a bandit's: against its logged propensities); `null` where nothing was checked (shadow, too few requests). */
  srmP: number | null;
  errorRate?: Record<string, number>;
  p99Ms?: Record<string, number | null>;
}

export const SPEC_CHANGES = ['put', 'delete', 'rollback', 'status'] as const;
export type SpecChange = (typeof SPEC_CHANGES)[number];

/**
 * What the rollout controller writes in the same step as a change: its comparison state
 * (libs/strategies' `RolloutState`, opaque here) and the decision it is about to publish.
 */
export interface RolloutWrite {
  state: object;
  outbox?: DecisionEvent;
}

/**
 * One requested change of a deployment, on `deployment-specs` keyed by deployment: the
 * record the registry is folded from (versions are given in log order by the fold, so
 * every process that folds the log agrees on them). `put` carries the whole spec body (one
 * equal to the current spec changes nothing); `rollback` restores the spec in force before
 * the current one; `status` sets fields of the rollout status and keeps the version; with
 * `expectedVersion` the change applies only while that version is current (compare-and-set).
 */
export class SpecChangeEvent extends EventEnvelope {
  @Matches(NAME_PATTERN)
  deployment: string;

  @IsIn(SPEC_CHANGES)
  change: SpecChange;

  /** `put` only: the spec as stored, without its version. */
  @IsOptional()
  @IsObject()
  @Opaque()
  body?: Omit<DeploymentSpec, 'version' | 'status'>;

  /** `status` only: the fields of the rollout status it sets (`paused: false` clears a pause); the others stay. */
  @IsOptional()
  @IsObject()
  @Opaque()
  status?: DeploymentStatus;

  @IsOptional()
  @IsInt()
  @Min(1)
  expectedVersion?: number;

  @IsOptional()
  @IsObject()
  @Opaque()
  rollout?: RolloutWrite;

  /** `put` only: the spec it replaces was rolled back or aborted, and is held (`DeploymentStatus.held`; a `rollback` change always holds). */
  @IsOptional()
  @IsBoolean()
  hold?: boolean;

  /** `put` only: an operator's retry, written even when the spec is held. */
  @IsOptional()
  @IsBoolean()
  retry?: boolean;
}

/** An automatic decision, on `deployment-events` keyed by deployment. */
export class DecisionEvent extends EventEnvelope {
  @Matches(NAME_PATTERN)
  deployment: string;

  @IsIn(DECISION_ACTIONS)
  action: DecisionAction;

  @IsString()
  reason: string;

  /** The spec version judged. */
  @IsInt()
  @Min(1)
  fromVersion: number;

  /** The spec version the decision wrote; equal to `fromVersion` when it wrote no spec (hold, and the rollout-status changes: advance, pause, veto). */
  @IsInt()
  @Min(1)
  toVersion: number;

  @IsOptional()
  @Matches(NAME_PATTERN)
  candidate?: string;

  @IsOptional()
  @Matches(NAME_PATTERN)
  primary?: string;

  @IsObject()
  @Opaque()
  evidence: DecisionEvidence;

  /**
   * Set on an operator's action through the API (promote, rollback, plan pause, resume and
   * abort, retry), published by the router so the timeline shows it beside the controller's
   * decisions; its `evidence` is the comparison's as it stood. Absent on the controller's.
   */
  @IsOptional()
  @IsBoolean()
  operator?: boolean;
}
