import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  Equals,
  IsDefined,
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { unionFieldProblems, validatePlain, Validated } from './validation';

/** Deployment and variant names become Redis keys and metric labels, so they are restricted. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const NAME_RULE = 'must be 1-63 lowercase letters, digits, "-" or "_", starting with a letter or digit';

export const PROTOCOLS = ['v2', 'json', 'grpc'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export class VariantSpec {
  @Matches(NAME_PATTERN, { message: `name ${NAME_RULE}` })
  name: string;

  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false }, { message: 'url must be an http(s) URL' })
  url: string;

  /** Model name on the model server; required by the Open Inference Protocol path. */
  @ValidateIf((variant: VariantSpec) => variant.protocol !== 'json' || variant.model !== undefined)
  @IsString()
  @Matches(/^[A-Za-z0-9._-]{1,128}$/, { message: 'model must be 1-128 letters, digits, ".", "_" or "-"' })
  model?: string;

  /**
   * A v2 or grpc variant's model version on its server: calls then go to
   * `/v2/models/{model}/versions/{modelVersion}/…` (gRPC: `model_version`); left out, the server picks its default.
   */
  @IsOptional()
  @Matches(/^[A-Za-z0-9._-]{1,64}$/, { message: 'modelVersion must be 1-64 letters, digits, ".", "_" or "-"' })
  modelVersion?: string;

  /**
   * `v2`: the Open Inference Protocol over REST; `grpc`: the same over gRPC
   * (`inference.GRPCInferenceService`; an `http://` URL is plaintext, `https://` TLS);
   * `json`: `POST {url}` with `{inputs}`. @default "v2"
   */
  @IsOptional()
  @IsIn(PROTOCOLS)
  protocol?: Protocol = 'v2';

  /** @default 1000 */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(60000)
  timeoutMs?: number = 1000;

  /** Extra attempts after a timeout or 5xx, within `timeoutMs` each. @default 0 */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(3)
  retries?: number = 0;
}

export const STRATEGY_TYPES = ['single', 'shadow', 'canary', 'bandit', 'plan'] as const;
export type StrategyType = (typeof STRATEGY_TYPES)[number];
export const BANDIT_ALGORITHMS = ['thompson', 'ucb1', 'epsilon-greedy'] as const;
export type BanditAlgorithm = (typeof BANDIT_ALGORITHMS)[number];
/**
 * Bandits that choose per request from its `context` (libs/strategies/src/contextual-bandit):
 * the updater keeps each arm's ridge statistics from the joined events (the context rides
 * on the prediction event), fits the arms' models and stores them; the router draws with
 * them per request.
 */
export const CONTEXTUAL_BANDIT_ALGORITHMS = ['linear-thompson', 'linucb', 'squarecb'] as const;
export type ContextualBanditAlgorithm = (typeof CONTEXTUAL_BANDIT_ALGORITHMS)[number];

/** Bounds of a bandit's context: each feature costs the router a d × d solve per arm per request. */
export const MAX_CONTEXT_FEATURES = 8;
export const MAX_CONTEXT_LEVELS = 16;
/** Numbers per request after one-hot encoding, the intercept included. */
export const MAX_CONTEXT_DIMENSION = 32;
export const CONTEXT_FEATURE_TYPES = ['numeric', 'categorical'] as const;
const FEATURE_SOURCES = ['context', 'input', 'path'] as const;

/**
 * One feature of a contextual bandit, read from the predict request by exactly one of
 * `context` (a key of the body's `context` object), `input` (an Open Inference Protocol
 * input tensor, element `index` of its flat data) or `path` (a dot path into the `inputs`
 * of a json-protocol request). A `numeric` feature is clipped to [min, max] then
 * multiplied by `scale`; a `categorical` one is one-hot over its `levels`.
 */
export class ContextFeatureSpec {
  @Matches(/^[A-Za-z0-9_-]{1,64}$/, { message: 'name must be 1-64 letters, digits, "_" or "-"' })
  name: string;

  @IsIn(CONTEXT_FEATURE_TYPES)
  type: (typeof CONTEXT_FEATURE_TYPES)[number];

  @IsOptional()
  @Matches(/^[A-Za-z0-9_-]{1,64}$/, { message: 'context must be a key of the request\'s context object (1-64 letters, digits, "_" or "-")' })
  context?: string;

  @IsOptional()
  @IsString()
  @Matches(/^.{1,128}$/, { message: 'input must be the name of an input tensor (1-128 characters)' })
  input?: string;

  /** Element of the input tensor's flat `data`. @default 0 */
  @ValidateIf((feature: ContextFeatureSpec) => feature.index !== undefined)
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  index?: number;

  @IsOptional()
  @Matches(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, { message: 'path must be a dot path into the inputs such as "0.amount" or "customer.segment"' })
  path?: string;

  /** numeric: lower clip. */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  min?: number;

  /** numeric: upper clip. */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  max?: number;

  /** numeric: multiplier after clipping, to put the feature near [-1, 1] as the ridge prior assumes. @default 1 */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  scale?: number;

  /** numeric: the value of a missing or non-numeric feature; left out, such a request is served context-free. */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  default?: number;

  /** categorical: the levels one-hot encoded; any other value (or none) encodes as all zeros. */
  @ValidateIf((feature: ContextFeatureSpec) => feature.type === 'categorical' || feature.levels !== undefined)
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_CONTEXT_LEVELS)
  @ArrayUnique()
  @IsString({ each: true })
  levels?: string[];
}

/** The features a contextual bandit reads from each request. */
export class ContextSpec {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_CONTEXT_FEATURES)
  @ValidateNested({ each: true })
  @Type(() => ContextFeatureSpec)
  features: ContextFeatureSpec[];
}

/** The length of a context's encoded vector: 1 (the intercept) + 1 per numeric feature + its levels per categorical one. */
export function contextDimension(context: ContextSpec): number {
  return 1 + context.features.reduce((sum, f) => sum + (f.type === 'categorical' ? (f.levels?.length ?? 0) : 1), 0);
}

/** Rules between a context's fields that class-validator cannot express. */
export function contextProblems(context: ContextSpec, path = 'strategy.context'): string[] {
  const problems: string[] = [];
  const names = context.features.map((f) => f.name);
  const duplicates = [...new Set(names.filter((name, i) => names.indexOf(name) !== i))];
  if (duplicates.length) problems.push(`${path}.features: duplicate names ${duplicates.join(', ')}`);
  context.features.forEach((f, i) => {
    const at = `${path}.features.${i}`;
    const sources = FEATURE_SOURCES.filter((source) => f[source] !== undefined);
    if (sources.length !== 1) problems.push(`${at} must have exactly one of context, input, path (where to read the feature), got ${sources.length}`);
    if (f.index !== undefined && f.input === undefined) problems.push(`${at}.index applies only to an input tensor (input)`);
    if (f.type === 'categorical') {
      for (const field of ['min', 'max', 'scale', 'default'] as const) {
        if (f[field] !== undefined) problems.push(`${at}.${field} applies only to a numeric feature`);
      }
    } else if (f.min !== undefined && f.max !== undefined && !(f.min < f.max)) {
      problems.push(`${at}.min (${f.min}) must be below max (${f.max})`);
    }
  });
  const dimension = contextDimension(context);
  if (dimension > MAX_CONTEXT_DIMENSION) {
    problems.push(`${path}: ${dimension} numbers per request once encoded (1 + numeric features + categorical levels) exceed ${MAX_CONTEXT_DIMENSION}`);
  }
  return problems;
}

/** A bandit spec's fields that only some algorithms read, with those algorithms. */
const ALGORITHM_FIELDS: Record<'context' | 'ridge' | 'halfLifeSeconds' | 'exploration' | 'gamma', readonly ContextualBanditAlgorithm[]> = {
  context: CONTEXTUAL_BANDIT_ALGORITHMS,
  ridge: CONTEXTUAL_BANDIT_ALGORITHMS,
  halfLifeSeconds: CONTEXTUAL_BANDIT_ALGORITHMS,
  exploration: ['linear-thompson', 'linucb'],
  gamma: ['squarecb'],
};

/** Whether a bandit's algorithm chooses per request from its context. */
export function isContextual(algorithm: unknown): algorithm is ContextualBanditAlgorithm {
  return (CONTEXTUAL_BANDIT_ALGORITHMS as readonly unknown[]).includes(algorithm);
}

export class ShadowStepSpec {
  /** Labelled pairs of the shadow (and of the primary) before its gate may pass. @default guardrails.minSamples */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  minSamples?: number;
}

export class PauseStepSpec {
  /** How long to wait before the next step; left out, the plan waits for `resume`. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(30 * 24 * 3600)
  seconds?: number;
}

export class BanditStepSpec {
  @IsIn(BANDIT_ALGORITHMS)
  algorithm: BanditAlgorithm;

  /** Labelled pairs of the step, both arms together, before its gate may pass. @default guardrails.minSamples × 2 */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  minSamples?: number;

  /** Floor on each arm's share during the step. @default 0.05 */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(0.5)
  minShare?: number;
}

/** One step of a plan: exactly one of its fields. */
export class PlanStepSpec {
  @IsOptional()
  @ValidateNested()
  @Type(() => ShadowStepSpec)
  shadow?: ShadowStepSpec;

  /** The candidate's percent of units (sticky, and monotone across steps). */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0.01)
  @Max(100)
  canary?: number;

  @IsOptional()
  @ValidateNested()
  @Type(() => PauseStepSpec)
  pause?: PauseStepSpec;

  @IsOptional()
  @ValidateNested()
  @Type(() => BanditStepSpec)
  bandit?: BanditStepSpec;

  @IsOptional()
  @Equals(true, { message: 'promote must be true' })
  promote?: true;
}

export const PLAN_STEP_KINDS = ['shadow', 'canary', 'pause', 'bandit', 'promote'] as const;
export type PlanStepKind = (typeof PLAN_STEP_KINDS)[number];

/** The kind of a step that has exactly one; `undefined` for a malformed one. */
export function planStepKind(step: PlanStepSpec): PlanStepKind | undefined {
  const kinds = PLAN_STEP_KINDS.filter((kind) => step[kind] !== undefined);
  return kinds.length === 1 ? kinds[0] : undefined;
}

/**
 * What every strategy has: its `type`, which picks the class that validates the rest
 * (`DeploymentSpecInput.strategy`). A `type` that names no strategy is validated as this
 * class alone, to say so.
 */
export class StrategyTypeSpec {
  @IsIn(STRATEGY_TYPES)
  type: StrategyType;
}

export class SingleStrategySpec extends StrategyTypeSpec {
  declare type: 'single';

  @IsString()
  variant: string;
}

export class ShadowStrategySpec extends StrategyTypeSpec {
  declare type: 'shadow';

  @IsString()
  primary: string;

  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(8)
  @ArrayUnique()
  @IsString({ each: true })
  shadows: string[];
}

export class CanaryStrategySpec extends StrategyTypeSpec {
  declare type: 'canary';

  @IsString()
  primary: string;

  @IsString()
  canary: string;

  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(100)
  percent: number;

  /** The primary also answers each request the canary serves, as a shadow, so the two are judged on paired differences. @default false */
  @IsOptional()
  @IsBoolean()
  pairWithPrimary?: boolean;
}

export class BanditStrategySpec extends StrategyTypeSpec {
  declare type: 'bandit';

  @IsIn([...BANDIT_ALGORITHMS, ...CONTEXTUAL_BANDIT_ALGORITHMS])
  algorithm: BanditAlgorithm | ContextualBanditAlgorithm;

  /** The request features a contextual algorithm (`CONTEXTUAL_BANDIT_ALGORITHMS`) chooses by. */
  @ValidateIf((bandit: BanditStrategySpec) => bandit.context !== undefined || isContextual(bandit.algorithm))
  @IsDefined({ message: `context is required by a contextual algorithm (${CONTEXTUAL_BANDIT_ALGORITHMS.join(', ')})` })
  @ValidateNested()
  @Type(() => ContextSpec)
  context?: ContextSpec;

  /** Contextual: λ of each arm's ridge regression, the prior's weight in observations. @default 1 */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0.000001)
  @Max(1_000_000)
  ridge?: number;

  /** linear-thompson, linucb: v of linear Thompson sampling or α of LinUCB, in units of the reward's noise. @default 1 */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(10)
  exploration?: number;

  /**
   * squarecb: γ of its inverse gap weighting, how sharply the share falls with an arm's
   * estimated gap to the best; absent, γ = 10·√n with n the observations the models were
   * fitted on (`squareCbGamma`).
   */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1_000_000)
  gamma?: number;

  /** Contextual: seconds after which an observation counts half, for drifting rewards; absent, nothing is forgotten. */
  @IsOptional()
  @IsInt()
  @Min(60)
  @Max(365 * 24 * 3600)
  halfLifeSeconds?: number;

  /** Floor on every arm's share of traffic. @default 0.01 */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(0.5)
  minShare?: number;

  /** Exploration rate of epsilon-greedy. @default 0.1 */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  epsilon?: number;
}

export class PlanStrategySpec extends StrategyTypeSpec {
  declare type: 'plan';

  @IsString()
  primary: string;

  /** The variant a plan walks from shadow to full traffic. */
  @IsString()
  candidate: string;

  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(20)
  @ValidateNested({ each: true })
  @Type(() => PlanStepSpec)
  steps: PlanStepSpec[];

  /** At its canary steps, the primary also answers each request the candidate serves, as a shadow (`CanaryStrategySpec.pairWithPrimary`). @default false */
  @IsOptional()
  @IsBoolean()
  pairWithPrimary?: boolean;
}

export type StrategySpec = SingleStrategySpec | ShadowStrategySpec | CanaryStrategySpec | BanditStrategySpec | PlanStrategySpec;

/** The class that validates each strategy type (class-transformer's discriminator subtypes). */
export const STRATEGY_CLASSES: { name: StrategyType; value: new () => StrategySpec }[] = [
  { name: 'single', value: SingleStrategySpec },
  { name: 'shadow', value: ShadowStrategySpec },
  { name: 'canary', value: CanaryStrategySpec },
  { name: 'bandit', value: BanditStrategySpec },
  { name: 'plan', value: PlanStrategySpec },
];

export const REWARD_TYPES = ['match', 'explicit', 'negAbsError'] as const;
export type RewardType = (typeof REWARD_TYPES)[number];

/**
 * Largest magnitude a reward bound may have: whatever the reward, its square and the
 * sums of millions of them stay far inside a double (the statistics in Redis keep Σr²).
 */
export const MAX_REWARD_BOUND = 1e9;

/**
 * How feedback is scored; every type has a range (docs/strategies.md, "Rewards"): `match`
 * [0, 1]; `explicit` [`min`, `max`], default [0, 1], feedback outside it refused;
 * `negAbsError` [-`maxError`, 0], an error past `maxError` counted as `maxError`.
 */
export class RewardSpec {
  @IsIn(REWARD_TYPES)
  type: RewardType;

  /** Dot path into the variant's outputs; left out, the first value of the first output. */
  @IsOptional()
  @Matches(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, { message: 'outputPath must be a dot path such as "0.data.0" or "label"' })
  outputPath?: string;

  /** `explicit` only: the smallest reward feedback may give. @default 0 */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(-MAX_REWARD_BOUND)
  @Max(MAX_REWARD_BOUND)
  min?: number;

  /** `explicit` only: the largest reward feedback may give. @default 1 */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(-MAX_REWARD_BOUND)
  @Max(MAX_REWARD_BOUND)
  max?: number;

  /** `negAbsError` only: the error at which the reward stops falling (an error past it scores `-maxError`). @default 1 */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Max(MAX_REWARD_BOUND)
  maxError?: number;
}

/** Rules of a reward spec class-validator cannot express: the bounds of its own type, in order. */
function rewardProblems(reward: RewardSpec): string[] {
  const problems: string[] = [];
  for (const [field, type] of [
    ['min', 'explicit'],
    ['max', 'explicit'],
    ['maxError', 'negAbsError'],
  ] as const)
    if (reward[field] !== undefined && reward.type !== type) problems.push(`reward.${field} applies to reward type ${type} only`);
  if (reward.type === 'explicit' && (reward.min ?? 0) >= (reward.max ?? 1)) problems.push('reward.min must be below reward.max (defaults 0 and 1)');
  if (reward.maxError !== undefined && !(reward.maxError > 0)) problems.push('reward.maxError must be above 0');
  return problems;
}

export const GUARDRAIL_METRICS = ['reward'] as const;
export const GUARDRAIL_ON_FAIL = ['rollback', 'pause'] as const;
export const GUARDRAIL_ON_PASS = ['promote', 'hold'] as const;
/** What `margin` is measured in: the reward's own units, or standard deviations of one reward (docs/statistics.md, "Margins and floors"). */
export const GUARDRAIL_MARGIN_UNITS = ['reward', 'sd'] as const;
/** A margin in standard deviations above this is no guardrail: every candidate within 5 σ would pass. */
export const MAX_MARGIN_SD = 5;

/** Guardrails as stored: every field set. See docs/strategies.md, "Guardrails: the rollout controller". */
export interface Guardrails {
  metric: (typeof GUARDRAIL_METRICS)[number];
  /** Chance of any wrong verdict over the whole, continuously watched comparison. */
  alpha: number;
  /** Labelled pairs each arm needs before anything is decided. */
  minSamples: number;
  /** Labelled pairs per arm after which the comparison stops as inconclusive. */
  maxSamples: number;
  /** How much worse than the primary the candidate may be and still pass, in `marginUnit`s. */
  margin: number;
  /** `reward`: `margin` on the reward's own scale (0.01 = 1 point of a 0/1 reward); `sd`: in standard deviations of one reward, pooled over both arms. */
  marginUnit: (typeof GUARDRAIL_MARGIN_UNITS)[number];
  onFail: (typeof GUARDRAIL_ON_FAIL)[number];
  onPass: (typeof GUARDRAIL_ON_PASS)[number];
  /** Candidate error rate minus the primary's above which it fails. */
  maxErrorRateIncrease: number;
  /** Candidate p99 latency over the primary's above which it fails, once both p99s are bounded (a few hundred successful requests per arm: statistics.md, "The verdict"). */
  maxLatencyRatio: number;
  /** How long labels may take to come (`LABEL_HORIZON_PATTERN`): younger predictions are not judged yet. Absent: judged at once. */
  labelHorizon?: string;
}

/** A label horizon: a whole number of seconds, minutes, hours or days, e.g. `"24h"`. */
export const LABEL_HORIZON_PATTERN = /^([1-9][0-9]{0,6})(s|m|h|d)$/;
const HORIZON_UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** A label horizon in seconds (0 when there is none). */
export function labelHorizonSeconds(horizon: string | undefined): number {
  if (horizon === undefined) return 0;
  const match = LABEL_HORIZON_PATTERN.exec(horizon);
  if (!match) throw new Error(`labelHorizon must be a number and a unit (s, m, h or d), e.g. "24h"; got ${JSON.stringify(horizon)}`);
  return Number(match[1]) * HORIZON_UNIT_SECONDS[match[2]];
}

export const GUARDRAIL_DEFAULTS: Readonly<Guardrails> = Object.freeze({
  metric: 'reward',
  alpha: 0.05,
  minSamples: 200,
  maxSamples: 20000,
  margin: 0.01,
  marginUnit: 'reward',
  onFail: 'rollback',
  onPass: 'hold',
  maxErrorRateIncrease: 0.02,
  maxLatencyRatio: 2.0,
});

/** What a PUT may say of guardrails; whatever it leaves out takes `GUARDRAIL_DEFAULTS`. */
export class GuardrailsSpec {
  @IsOptional()
  @IsIn(GUARDRAIL_METRICS)
  metric?: Guardrails['metric'];

  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0.0001)
  @Max(0.5)
  alpha?: number;

  @IsOptional()
  @IsInt()
  @Min(10)
  @Max(10_000_000)
  minSamples?: number;

  @IsOptional()
  @IsInt()
  @Min(10)
  @Max(100_000_000)
  maxSamples?: number;

  /** Any scale: an absolute error's margin may be 2 (ms, €); at most MAX_MARGIN_SD in `sd`. */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  margin?: number;

  @IsOptional()
  @IsIn(GUARDRAIL_MARGIN_UNITS)
  marginUnit?: Guardrails['marginUnit'];

  @IsOptional()
  @IsIn(GUARDRAIL_ON_FAIL)
  onFail?: Guardrails['onFail'];

  @IsOptional()
  @IsIn(GUARDRAIL_ON_PASS)
  onPass?: Guardrails['onPass'];

  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  maxErrorRateIncrease?: number;

  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1)
  @Max(1000)
  maxLatencyRatio?: number;

  /**
   * How long labels may take to come, e.g. `"24h"`: a step (or canary) is judged only on
   * predictions served at least this long ago, so a label that comes late (often the
   * bad outcome) is not missing from what is judged. Absent, everything labelled is judged.
   */
  @IsOptional()
  @Matches(LABEL_HORIZON_PATTERN, { message: 'labelHorizon must be a number and a unit (s, m, h or d), e.g. "24h"' })
  labelHorizon?: string;
}

/** Who may label this deployment's predictions. */
export class FeedbackSpec {
  /**
   * Each prediction answer carries a `feedbackToken` (an HMAC over its request id, deployment,
   * variant and spec version, keyed by the routers' FEEDBACK_TOKEN_SECRET), and HTTP feedback
   * for the deployment must present it: only the holder of a prediction can label it. @default false
   */
  @IsOptional()
  @IsBoolean()
  requireToken?: boolean;
}

export class DeploymentSpecInput {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(16)
  @ValidateNested({ each: true })
  @Type(() => VariantSpec)
  variants: VariantSpec[];

  @IsDefined({ message: 'strategy is required' })
  @ValidateNested()
  @Type(() => StrategyTypeSpec, { discriminator: { property: 'type', subTypes: STRATEGY_CLASSES }, keepDiscriminatorProperty: true })
  strategy: StrategySpec;

  /** @default {"type": "match"} */
  @IsOptional()
  @ValidateNested()
  @Type(() => RewardSpec)
  reward?: RewardSpec;

  /** Judged by the rollout controller; absent, nobody acts on ground truth but a bandit. */
  @IsOptional()
  @ValidateNested()
  @Type(() => GuardrailsSpec)
  guardrails?: GuardrailsSpec;

  /** @default {"requireToken": false} */
  @IsOptional()
  @ValidateNested()
  @Type(() => FeedbackSpec)
  feedback?: FeedbackSpec;
}

export interface StoredVariant {
  name: string;
  url: string;
  model?: string;
  modelVersion?: string;
  protocol: Protocol;
  timeoutMs: number;
  retries: number;
}

/**
 * What the rollout controller (and an operator's plan pause or resume) writes of a
 * deployment: its rollout status, kept beside the spec and never in it, so that a step or
 * a pause creates no spec version. A new spec version with another strategy starts it
 * afresh (`{}`).
 */
export class DeploymentStatus {
  /** Index of a plan's current step. @default 0 */
  @IsOptional()
  @IsInt()
  @Min(0)
  step?: number;

  /** A paused plan serves its current step and is not judged until resumed. */
  @IsOptional()
  @IsBoolean()
  paused?: boolean;

  /** Bandit arms held at the floor `minShare`: they failed a guardrail against the best arm. */
  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  vetoed?: string[];

  /**
   * The version of a spec that was rolled back or aborted: a PUT of that same spec again
   * writes nothing until an operator's retry (or a PUT of another spec), so a GitOps loop
   * re-applying its file does not restart a candidate the rollout ended.
   */
  @IsOptional()
  @IsInt()
  @Min(1)
  held?: number;
}

/** A spec as stored: what was PUT, with its name, version and when it was stored. */
export interface DeploymentSpec {
  name: string;
  version: number;
  updatedAt: string;
  variants: StoredVariant[];
  strategy: StrategySpec;
  reward: RewardSpec;
  guardrails?: Guardrails;
  /** Present only when the deployment requires feedback tokens. */
  feedback?: { requireToken: true };
  /** The current version's rollout status, as read from the registry; absent on an older version. */
  status?: DeploymentStatus;
}

/** Rules class-validator cannot express: names unique, strategy refers to known variants. */
export function specProblems(spec: DeploymentSpecInput): string[] {
  const problems: string[] = [];
  const names = spec.variants.map((variant) => variant.name);
  const duplicates = names.filter((name, index) => names.indexOf(name) !== index);
  if (duplicates.length) problems.push(`variants: duplicate names ${[...new Set(duplicates)].join(', ')}`);
  for (const variant of spec.variants.filter((v) => v.modelVersion !== undefined && v.protocol === 'json')) {
    problems.push(`variants: ${variant.name} has a modelVersion, which only the v2 and grpc protocols address`);
  }

  const strategy = spec.strategy;
  const known = new Set(names);
  for (const [field, ref] of variantRefs(strategy)) {
    if (!known.has(ref)) problems.push(`strategy.${field}: unknown variant "${ref}"`);
  }
  if (strategy.type === 'canary' && strategy.primary === strategy.canary) {
    problems.push('strategy.canary must differ from strategy.primary');
  }
  if (strategy.type === 'shadow' && strategy.shadows.includes(strategy.primary)) {
    problems.push('strategy.shadows must not include the primary');
  }
  if (strategy.type === 'bandit' && spec.variants.length < 2) {
    problems.push('variants: a bandit needs at least 2 variants');
  }
  if (strategy.type === 'bandit' && (strategy.minShare ?? 0) * spec.variants.length > 1) {
    problems.push('strategy.minShare times the number of variants must not exceed 1');
  }
  if (strategy.type === 'bandit') {
    for (const [field, algorithms] of Object.entries(ALGORITHM_FIELDS)) {
      if (strategy[field as keyof typeof ALGORITHM_FIELDS] === undefined || algorithms.includes(strategy.algorithm as ContextualBanditAlgorithm)) continue;
      const which = algorithms === CONTEXTUAL_BANDIT_ALGORITHMS ? `a contextual algorithm (${algorithms.join(', ')})` : algorithms.join(', ');
      problems.push(`strategy.${field} applies only to ${which}, not ${strategy.algorithm}`);
    }
  }
  if (strategy.type === 'bandit' && strategy.context) problems.push(...contextProblems(strategy.context));
  if (strategy.type === 'plan') problems.push(...planProblems(strategy));
  if (spec.guardrails) problems.push(...guardrailProblems(spec.guardrails, strategy));
  if (spec.reward) problems.push(...rewardProblems(spec.reward));
  return problems;
}

/** The variants a strategy names, by field. */
function variantRefs(strategy: StrategySpec): [string, string][] {
  switch (strategy.type) {
    case 'single':
      return [['variant', strategy.variant]];
    case 'shadow':
      return [['primary', strategy.primary], ...strategy.shadows.map((shadow, i): [string, string] => [`shadows.${i}`, shadow])];
    case 'canary':
      return [
        ['primary', strategy.primary],
        ['canary', strategy.canary],
      ];
    case 'plan':
      return [
        ['primary', strategy.primary],
        ['candidate', strategy.candidate],
      ];
    case 'bandit':
      return [];
  }
}

function planProblems(plan: PlanStrategySpec): string[] {
  const problems: string[] = [];
  if (plan.primary === plan.candidate) problems.push('strategy.candidate must differ from strategy.primary');
  const steps = plan.steps;
  let lastCanary: { index: number; percent: number } | undefined;
  steps.forEach((step, index) => {
    const kind = planStepKind(step);
    if (!kind) return void problems.push(`strategy.steps.${index} must have exactly one of ${PLAN_STEP_KINDS.join(', ')}`);
    if (kind === 'promote' && index !== steps.length - 1) problems.push(`strategy.steps.${index}: promote must be the last step`);
    if (step.canary !== undefined) {
      if (lastCanary && step.canary < lastCanary.percent) {
        problems.push(
          `strategy.steps.${index}.canary (${step.canary}) must not go below step ${lastCanary.index}'s ${lastCanary.percent}: canary steps only widen`,
        );
      }
      lastCanary = { index, percent: step.canary };
    }
  });
  if (steps.length && planStepKind(steps[steps.length - 1]) !== 'promote') problems.push('strategy.steps: a plan must end with {"promote": true}');
  if (plan.pairWithPrimary && !steps.some((step) => step.canary !== undefined)) {
    problems.push('strategy.pairWithPrimary pairs the candidate with the primary at canary steps, and this plan has none');
  }
  return problems;
}

function guardrailProblems(guardrails: GuardrailsSpec, strategy: StrategySpec): string[] {
  const problems: string[] = [];
  if (strategy.type === 'single') problems.push('guardrails: strategy single has no candidate to judge; use canary, shadow or bandit');
  const { minSamples, maxSamples, margin, marginUnit } = { ...GUARDRAIL_DEFAULTS, ...definedFields(guardrails) };
  if (maxSamples < minSamples) problems.push(`guardrails.maxSamples (${maxSamples}) must be at least guardrails.minSamples (${minSamples})`);
  if (marginUnit === 'sd' && margin > MAX_MARGIN_SD)
    problems.push(`guardrails.margin (${margin}) must be at most ${MAX_MARGIN_SD} standard deviations when marginUnit is sd`);
  return problems;
}

function definedFields<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as Partial<T>;
}

/** Fields a spec once carried and the rollout status holds now (`DeploymentStatus`). */
const STATUS_FIELDS = new Set(['step', 'paused', 'vetoed']);

/** Validates a PUT body in full: shape (each strategy by the class of its type), then cross-references. */
export function validateDeploymentSpec(plain: unknown): Validated<DeploymentSpecInput> {
  const result = validatePlain(DeploymentSpecInput, plain);
  if (!result.ok) {
    const status = (field: string, type: unknown) =>
      STATUS_FIELDS.has(field)
        ? `strategy.${field} is rollout status, written by the rollout controller beside the spec, not in it`
        : field === 'pairWithPrimary'
          ? `strategy.pairWithPrimary applies to a canary or a plan's canary steps (the primary shadows the canary's requests), not to strategy ${String(type)}`
          : undefined;
    return { ok: false, problems: [...unionFieldProblems(result.problems, plain, 'strategy', STRATEGY_TYPES, status), ...wellFormedContextProblems(plain)] };
  }
  const problems = specProblems(result.value);
  return problems.length ? { ok: false, problems } : result;
}

/**
 * The rules between a bandit context's fields when the spec failed elsewhere: reported with
 * the rest, so one PUT lists every problem of a context. A context malformed in itself already has its problems listed.
 */
function wellFormedContextProblems(plain: unknown): string[] {
  const strategy = (plain as { strategy?: { type?: unknown; context?: unknown } } | null)?.strategy;
  if (strategy?.type !== 'bandit' || strategy.context === undefined) return [];
  const context = validatePlain(ContextSpec, strategy.context);
  return context.ok ? contextProblems(context.value) : [];
}

export function isValidName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

/** What gets stored for a validated PUT body: defaults filled in, as plain data. */
export function normalizeSpec(name: string, input: DeploymentSpecInput, now: Date = new Date()): Omit<DeploymentSpec, 'version' | 'status'> {
  const strategy = definedFields(input.strategy) as StrategySpec;
  return {
    name,
    updatedAt: now.toISOString(),
    variants: input.variants.map((variant) => ({
      name: variant.name,
      url: variant.url.replace(/\/+$/, ''),
      ...(variant.model === undefined ? {} : { model: variant.model }),
      ...(variant.modelVersion === undefined ? {} : { modelVersion: variant.modelVersion }),
      protocol: variant.protocol ?? 'v2',
      timeoutMs: variant.timeoutMs ?? 1000,
      retries: variant.retries ?? 0,
    })),
    strategy,
    reward: input.reward ? { ...input.reward } : { type: 'match' },
    ...(input.guardrails && { guardrails: { ...GUARDRAIL_DEFAULTS, ...definedFields(input.guardrails) } }),
    ...(input.feedback?.requireToken && { feedback: { requireToken: true } }),
  };
}

/**
 * The stored body of `spec` under another strategy (its rollout status left out): what
 * promote, the controller's rollback and promotion, and a plan's abort write. Its guardrails stay, unless the strategy becomes `single`, which
 * has nothing left to judge (and which a PUT with guardrails is refused for).
 */
export function withStrategy(spec: DeploymentSpec, strategy: StrategySpec, now: Date = new Date()): Omit<DeploymentSpec, 'version' | 'status'> {
  const { version: _version, status: _status, guardrails, ...body } = spec;
  return { ...body, updatedAt: now.toISOString(), strategy, ...(guardrails && strategy.type !== 'single' && { guardrails }) };
}
