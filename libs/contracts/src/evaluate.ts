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
import { NAME_PATTERN } from './deployment';

/** Strategies that are one fixed policy; a plan is a sequence of them (evaluate its steps). */
export const EVALUATION_POLICY_TYPES = ['single', 'shadow', 'canary', 'bandit'] as const;
export type EvaluationPolicyType = (typeof EVALUATION_POLICY_TYPES)[number];
import { validatePlain, Validated } from './validation';

/**
 * The policy an off-policy evaluation asks about: any strategy, with its fields as in a
 * deployment spec, except that a bandit is given as fixed `weights` (the share of
 * traffic each variant would get). An adaptive bandit (`algorithm`) cannot be evaluated
 * from logged traffic alone: its choices depend on the rewards it would itself have
 * seen; evaluate a snapshot of its weights instead.
 */
export class EvaluationPolicy {
  @IsIn(EVALUATION_POLICY_TYPES)
  type: EvaluationPolicyType;

  @ValidateIf((p: EvaluationPolicy) => p.type === 'single')
  @IsString()
  variant?: string;

  @ValidateIf((p: EvaluationPolicy) => p.type === 'shadow' || p.type === 'canary')
  @IsString()
  primary?: string;

  /** Accepted so a shadow spec can be pasted as is; shadows never answer, so they do not matter. */
  @ValidateIf((p: EvaluationPolicy) => p.type === 'shadow' && p.shadows !== undefined)
  @IsArray()
  @ArrayMaxSize(8)
  @IsString({ each: true })
  shadows?: string[];

  @ValidateIf((p: EvaluationPolicy) => p.type === 'canary')
  @IsString()
  canary?: string;

  @ValidateIf((p: EvaluationPolicy) => p.type === 'canary')
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(100)
  percent?: number;

  /** Bandit only: variant → non-negative weight; scaled to sum to 1. */
  // Not demanded next to an `algorithm`: that one gets the more useful message (evaluateBodyProblems).
  @ValidateIf((p: EvaluationPolicy) => p.type === 'bandit' && p.algorithm === undefined)
  @IsObject()
  weights?: Record<string, number>;

  /** Known so that a pasted bandit spec is told why it is refused (see `evaluateBodyProblems`), not "should not exist". */
  @IsOptional()
  algorithm?: unknown;

  @IsOptional()
  minShare?: unknown;

  @IsOptional()
  epsilon?: unknown;
}

/** `POST /v1/deployments/{name}/evaluate`. */
export class EvaluateBody {
  @IsDefined({ message: 'policy is required' })
  @ValidateNested()
  @Type(() => EvaluationPolicy)
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
  /** The policy's probability per variant, as evaluated. */
  target: Record<string, number>;
  /** The window actually read. */
  since?: string;
  until?: string;
  /** Events read from the topic, all deployments and roles. */
  scanned: number;
  scanMs: number;
}

const FIELDS_BY_TYPE: Record<EvaluationPolicyType, (keyof EvaluationPolicy)[]> = {
  single: ['variant'],
  shadow: ['primary', 'shadows'],
  canary: ['primary', 'canary', 'percent'],
  bandit: ['weights'],
};

/** Rules class-validator cannot express: no fields of other types, weights well formed, since before until. */
export function evaluateBodyProblems(body: EvaluateBody): string[] {
  const problems: string[] = [];
  const policy = body.policy;
  const allowed = new Set<string>(['type', ...FIELDS_BY_TYPE[policy.type]]);
  for (const field of Object.keys(policy)) {
    if (allowed.has(field) || policy[field as keyof EvaluationPolicy] === undefined) continue;
    problems.push(
      policy.type === 'bandit' && ['algorithm', 'minShare', 'epsilon'].includes(field)
        ? `policy.${field}: an adaptive bandit cannot be evaluated off-policy; give fixed policy.weights instead`
        : `policy.${field} does not apply to policy ${policy.type}`,
    );
  }
  for (const [field, name] of [
    ['variant', policy.variant],
    ['primary', policy.primary],
    ['canary', policy.canary],
  ] as const) {
    if (name !== undefined && !NAME_PATTERN.test(name)) problems.push(`policy.${field} must be a variant name`);
  }
  if (policy.type === 'canary' && policy.primary !== undefined && policy.primary === policy.canary) {
    problems.push('policy.canary must differ from policy.primary');
  }
  if (policy.type === 'bandit' && policy.weights && typeof policy.weights === 'object') {
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
  if (body.since !== undefined && body.until !== undefined && !(Date.parse(body.since) < Date.parse(body.until))) {
    problems.push('since must be before until');
  }
  return problems;
}

/** Validates an evaluate body in full: shape, then the rules between fields. */
export function validateEvaluateBody(plain: unknown): Validated<EvaluateBody> {
  const result = validatePlain(EvaluateBody, plain);
  if (!result.ok) return result;
  const problems = evaluateBodyProblems(result.value);
  return problems.length ? { ok: false, problems } : result;
}
