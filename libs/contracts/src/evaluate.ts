import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsDefined,
  IsIn,
  IsISO8601,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Max,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { CanaryStrategySpec, MAX_CONTEXT_DIMENSION, NAME_PATTERN, SingleStrategySpec } from './deployment';
import { unionFieldProblems, validatePlain, Validated } from './validation';

/** Strategies that are one fixed policy; a plan is a sequence of them (evaluate its steps). */
export const EVALUATION_POLICY_TYPES = ['single', 'shadow', 'canary', 'bandit', 'contextual'] as const;
export type EvaluationPolicyType = (typeof EVALUATION_POLICY_TYPES)[number];

/**
 * What every evaluation policy has: its `type`, which picks the class that validates the
 * rest (`EvaluateBody.policy`). A `type` that names no policy (a plan, say) is validated as
 * this class alone, to say so.
 */
export class EvaluationPolicyTypeSpec {
  @IsIn(EVALUATION_POLICY_TYPES)
  type: EvaluationPolicyType;
}

/** A shadow strategy as a policy: only its primary answers. */
export class ShadowEvaluationPolicy extends EvaluationPolicyTypeSpec {
  declare type: 'shadow';

  @IsString()
  primary: string;

  /** Accepted so a shadow spec can be pasted as is; shadows never answer, so they do not matter. */
  @ValidateIf((policy: ShadowEvaluationPolicy) => policy.shadows !== undefined)
  @IsArray()
  @ArrayMaxSize(8)
  @IsString({ each: true })
  shadows?: string[];
}

/**
 * A bandit as a policy: fixed `weights`, the share of traffic each variant would get. An
 * adaptive bandit (`algorithm`) cannot be evaluated from logged traffic alone: its choices
 * depend on the rewards it would itself have seen; evaluate a snapshot of its weights instead.
 */
export class FixedBanditPolicy extends EvaluationPolicyTypeSpec {
  declare type: 'bandit';

  /** Variant → non-negative weight; scaled to sum to 1. */
  // Not demanded next to an `algorithm`: that one gets the more useful message (ADAPTIVE_BANDIT_FIELDS).
  @ValidateIf((policy: Record<string, unknown>) => policy.algorithm === undefined)
  @IsObject()
  weights: Record<string, number>;
}

/**
 * A contextual policy, given by its parameters: `models`, variant → θ, a linear model of
 * the variant's reward on the encoded context (`extractContext`: the intercept first, then
 * each feature, categorical ones one-hot, as the deployment's events log it); the policy
 * serves the variant of the largest xᵀθ (ties split), or with `gamma` spreads its traffic
 * as SquareCB does (inverse gap weighting of xᵀθ). Left out, the deployment's current
 * models (a contextual bandit's, as its routers draw with them now), frozen, with its
 * algorithm, exploration, γ and floor. Only a log whose events carry their context can
 * evaluate it.
 */
export class ContextualEvaluationPolicy extends EvaluationPolicyTypeSpec {
  declare type: 'contextual';

  @IsOptional()
  @IsObject()
  models?: Record<string, number[]>;

  /** SquareCB's γ for `models`: each variant gets 1/(K + γ·(best xᵀθ − its own)), the best the rest. */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1_000_000)
  gamma?: number;
}

/**
 * The policy an off-policy evaluation asks about: any strategy but a plan, with its
 * fields as in a deployment spec, except that a shadow's `shadows` may be left out and a
 * bandit is given as fixed weights (`FixedBanditPolicy`) or, contextual, by its models
 * (`ContextualEvaluationPolicy`).
 */
export type EvaluationPolicy = SingleStrategySpec | ShadowEvaluationPolicy | CanaryStrategySpec | FixedBanditPolicy | ContextualEvaluationPolicy;

/** The class that validates each policy type (class-transformer's discriminator subtypes). */
export const EVALUATION_POLICY_CLASSES: { name: EvaluationPolicyType; value: new () => EvaluationPolicy }[] = [
  { name: 'single', value: SingleStrategySpec },
  { name: 'shadow', value: ShadowEvaluationPolicy },
  { name: 'canary', value: CanaryStrategySpec },
  { name: 'bandit', value: FixedBanditPolicy },
  { name: 'contextual', value: ContextualEvaluationPolicy },
];

/** A pasted adaptive bandit spec's fields: refused with the reason, not as fields of no policy. */
const ADAPTIVE_BANDIT_FIELDS = new Set(['algorithm', 'minShare', 'epsilon']);

/** `POST /v1/deployments/{name}/evaluate`. */
export class EvaluateBody {
  @IsDefined({ message: 'policy is required' })
  @ValidateNested()
  @Type(() => EvaluationPolicyTypeSpec, { discriminator: { property: 'type', subTypes: EVALUATION_POLICY_CLASSES }, keepDiscriminatorProperty: true })
  policy: EvaluationPolicy;

  /** Joined events whose Kafka timestamp (when they were joined) is at or after this instant. */
  @IsOptional()
  @IsISO8601({ strict: true })
  since?: string;

  /** ... and before this one. */
  @IsOptional()
  @IsISO8601({ strict: true })
  until?: string;

  /** Confidence level of the interval. @default 0.95 */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0.5)
  @Max(0.9999)
  level?: number;
}

/** The estimators every evaluation answers with, on the same window and weights (docs/off-policy-evaluation.md). */
export const OFF_POLICY_ESTIMATORS = ['snips', 'ips', 'dm', 'dr', 'sndr'] as const;
export type OffPolicyEstimator = (typeof OFF_POLICY_ESTIMATORS)[number];

/** One estimator's answer. */
export interface EstimatorAnswer {
  estimate: number;
  /** The interval at the response's `level`. */
  low: number;
  high: number;
  /** Kish's effective sample size of the importance weights (DM uses none, but is refused with the others). */
  ess: number;
}

/** What the evaluate endpoint answers (200). */
export interface EvaluateResponse {
  deployment: string;
  /** `snips`: self-normalised importance sampling. */
  method: string;
  /** Estimated mean reward of the policy over the window's joined, served traffic. */
  estimate: number;
  /** The interval at `level` (default 95 %). */
  low: number;
  high: number;
  level: number;
  /** Joined served events used. */
  n: number;
  /** Effective sample size (Σw)²/Σw². */
  ess: number;
  /** Mean importance weight; near 1 when the logged propensities are right. */
  meanWeight: number;
  /** Events read but not used, by cause (fallback answers, other deployments are not counted). */
  excluded: Record<string, number>;
  /**
   * Every estimator: `snips` (the top-level answer), `ips`, and with a reward model fit
   * on the window (cross-fitted; see `rewardModel`) `dm`, `dr` and `sndr`.
   */
  estimators: Record<OffPolicyEstimator, EstimatorAnswer>;
  /**
   * What DM's, DR's and SNDR's reward model was fit on: `context`, a ridge regression per
   * variant on the encoded context a contextual bandit logged with each decision (when every
   * event of the window carries one of the same length); else `variant-means`.
   */
  rewardModel: 'context' | 'variant-means';
  /** The policy's probability per variant, as evaluated. */
  target: Record<string, number>;
  /** The window actually read. */
  since?: string;
  until?: string;
  /** Events read from the topic, all deployments and roles. */
  scanned: number;
  scanMs: number;
}

/** The variants a policy names, by field; a shadow's shadows never answer, so they are not among them. */
function namedVariants(policy: EvaluationPolicy): [string, string][] {
  switch (policy.type) {
    case 'single':
      return [['variant', policy.variant]];
    case 'shadow':
      return [['primary', policy.primary]];
    case 'canary':
      return [
        ['primary', policy.primary],
        ['canary', policy.canary],
      ];
    case 'bandit':
    case 'contextual':
      return [];
  }
}

/** Rules class-validator cannot express: variant names, weights well formed, since before until. */
export function evaluateBodyProblems(body: EvaluateBody): string[] {
  const problems: string[] = [];
  const policy = body.policy;
  for (const [field, name] of namedVariants(policy)) {
    if (!NAME_PATTERN.test(name)) problems.push(`policy.${field} must be a variant name`);
  }
  if (policy.type === 'canary' && policy.primary === policy.canary) {
    problems.push('policy.canary must differ from policy.primary');
  }
  if (policy.type === 'bandit') {
    const entries = Object.entries(policy.weights);
    if (!entries.length) problems.push('policy.weights must name at least one variant');
    if (entries.length > 16) problems.push('policy.weights must name at most 16 variants');
    for (const [name, weight] of entries) {
      if (!NAME_PATTERN.test(name)) problems.push(`policy.weights: "${name.slice(0, 64)}" is not a variant name`);
      if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0)
        problems.push(`policy.weights.${name.slice(0, 64)} must be a finite number >= 0`);
    }
    const total = entries.reduce((sum, [, weight]) => sum + (typeof weight === 'number' && weight > 0 ? weight : 0), 0);
    if (entries.length && !(total > 0)) problems.push('policy.weights must have a positive sum');
  }
  if (policy.type === 'contextual' && policy.models !== undefined) problems.push(...modelsProblems(policy.models));
  if (policy.type === 'contextual' && policy.gamma !== undefined && policy.models === undefined) {
    problems.push("policy.gamma applies only to given policy.models (the deployment's own models are evaluated with its own settings)");
  }
  if (body.since !== undefined && body.until !== undefined && !(Date.parse(body.since) < Date.parse(body.until))) {
    problems.push('since must be before until');
  }
  return problems;
}

/** A contextual policy's models: 1-16 variants, each θ 1-32 finite numbers, all of one length. */
function modelsProblems(models: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const entries = Object.entries(models);
  if (!entries.length) problems.push('policy.models must name at least one variant');
  if (entries.length > 16) problems.push('policy.models must name at most 16 variants');
  const lengths = new Set<number>();
  for (const [name, theta] of entries) {
    const field = `policy.models.${name.slice(0, 64)}`;
    if (!NAME_PATTERN.test(name)) problems.push(`policy.models: "${name.slice(0, 64)}" is not a variant name`);
    if (!Array.isArray(theta) || !theta.length || theta.length > MAX_CONTEXT_DIMENSION || !theta.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      problems.push(`${field} must be a list of 1 to ${MAX_CONTEXT_DIMENSION} finite numbers (θ, the intercept first)`);
    } else lengths.add(theta.length);
  }
  if (lengths.size > 1) problems.push(`policy.models: every θ must have the same length (the encoded context's), got ${[...lengths].join(', ')}`);
  return problems;
}

/** Validates an evaluate body in full: shape (each policy by the class of its type), then the rules between fields. */
export function validateEvaluateBody(plain: unknown): Validated<EvaluateBody> {
  const result = validatePlain(EvaluateBody, plain);
  if (!result.ok) {
    const adaptive = (field: string, type: unknown) =>
      type === 'bandit' && ADAPTIVE_BANDIT_FIELDS.has(field)
        ? `policy.${field}: an adaptive bandit cannot be evaluated off-policy; give fixed policy.weights instead, or a contextual one's models as type contextual`
        : undefined;
    return { ok: false, problems: unionFieldProblems(result.problems, plain, 'policy', EVALUATION_POLICY_TYPES, adaptive) };
  }
  const problems = evaluateBodyProblems(result.value);
  return problems.length ? { ok: false, problems } : result;
}
