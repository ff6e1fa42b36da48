import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  Equals,
  IsDefined,
  IsBoolean,
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
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
import { validatePlain, Validated } from './validation';

/** Deployment and variant names become Redis keys and metric labels, so they are restricted. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const NAME_RULE = 'must be 1-63 lowercase letters, digits, "-" or "_", starting with a letter or digit';

export const PROTOCOLS = ['v2', 'json'] as const;
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

  /** @default "v2" (Open Inference Protocol) */
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
 * One class for every strategy type: the fields that belong to a type are required by
 * `ValidateIf` on that type, and `strategyProblems` rejects fields of other types, so
 * a spec that mixes them gets a 400 instead of being silently half-read.
 */
export class StrategySpec {
  @IsIn(STRATEGY_TYPES)
  type: StrategyType;

  @ValidateIf((s: StrategySpec) => s.type === 'single')
  @IsString()
  variant?: string;

  @ValidateIf((s: StrategySpec) => s.type === 'shadow' || s.type === 'canary' || s.type === 'plan')
  @IsString()
  primary?: string;

  /** The variant a plan walks from shadow to full traffic. */
  @ValidateIf((s: StrategySpec) => s.type === 'plan')
  @IsString()
  candidate?: string;

  @ValidateIf((s: StrategySpec) => s.type === 'plan')
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(20)
  @ValidateNested({ each: true })
  @Type(() => PlanStepSpec)
  steps?: PlanStepSpec[];

  /** Index of the plan's current step; the rollout controller advances it. @default 0 */
  @ValidateIf((s: StrategySpec) => s.type === 'plan' && s.step !== undefined)
  @IsInt()
  @Min(0)
  step?: number;

  /** A paused plan serves its current step and is not judged until resumed. @default false */
  @ValidateIf((s: StrategySpec) => s.type === 'plan' && s.paused !== undefined)
  @IsBoolean()
  paused?: boolean;

  @ValidateIf((s: StrategySpec) => s.type === 'shadow')
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(8)
  @ArrayUnique()
  @IsString({ each: true })
  shadows?: string[];

  @ValidateIf((s: StrategySpec) => s.type === 'canary')
  @IsString()
  canary?: string;

  @ValidateIf((s: StrategySpec) => s.type === 'canary')
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(100)
  percent?: number;

  @ValidateIf((s: StrategySpec) => s.type === 'bandit')
  @IsIn(BANDIT_ALGORITHMS)
  algorithm?: BanditAlgorithm;

  /** Floor on every arm's share of traffic. @default 0.01 */
  @ValidateIf((s: StrategySpec) => s.type === 'bandit' && s.minShare !== undefined)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(0.5)
  minShare?: number;

  /** Arms the rollout controller (or an operator) holds at the floor `minShare`: they failed a guardrail. */
  @ValidateIf((s: StrategySpec) => s.type === 'bandit' && s.vetoed !== undefined)
  @IsArray()
  @ArrayMaxSize(16)
  @ArrayUnique()
  @IsString({ each: true })
  vetoed?: string[];

  /** Exploration rate of epsilon-greedy. @default 0.1 */
  @ValidateIf((s: StrategySpec) => s.type === 'bandit' && s.epsilon !== undefined)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  epsilon?: number;
}

export const REWARD_TYPES = ['match', 'explicit', 'negAbsError'] as const;
export type RewardType = (typeof REWARD_TYPES)[number];

export class RewardSpec {
  @IsIn(REWARD_TYPES)
  type: RewardType;

  /** Dot path into the variant's outputs; left out, the first value of the first output. */
  @IsOptional()
  @Matches(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, { message: 'outputPath must be a dot path such as "0.data.0" or "label"' })
  outputPath?: string;
}

export const GUARDRAIL_METRICS = ['reward'] as const;
export const GUARDRAIL_ON_FAIL = ['rollback', 'pause'] as const;
export const GUARDRAIL_ON_PASS = ['promote', 'hold'] as const;

/** Guardrails as stored: every field set. See docs/strategies.md, "Guardrails: the rollout controller". */
export interface Guardrails {
  metric: (typeof GUARDRAIL_METRICS)[number];
  /** Chance of any wrong verdict over the whole, continuously watched comparison. */
  alpha: number;
  /** Labelled pairs each arm needs before anything is decided. */
  minSamples: number;
  /** Labelled pairs per arm after which the comparison stops as inconclusive. */
  maxSamples: number;
  /** How much worse than the primary the candidate may be and still pass. */
  margin: number;
  onFail: (typeof GUARDRAIL_ON_FAIL)[number];
  onPass: (typeof GUARDRAIL_ON_PASS)[number];
  /** Candidate error rate minus the primary's above which it fails. */
  maxErrorRateIncrease: number;
  /** Candidate p99 latency over the primary's above which it fails. */
  maxLatencyRatio: number;
}

export const GUARDRAIL_DEFAULTS: Readonly<Guardrails> = Object.freeze({
  metric: 'reward',
  alpha: 0.05,
  minSamples: 200,
  maxSamples: 20000,
  margin: 0.01,
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

  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  margin?: number;

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
  @Type(() => StrategySpec)
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
}

export interface StoredVariant {
  name: string;
  url: string;
  model?: string;
  protocol: Protocol;
  timeoutMs: number;
  retries: number;
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
}

const FIELDS_BY_TYPE: Record<StrategyType, (keyof StrategySpec)[]> = {
  single: ['variant'],
  shadow: ['primary', 'shadows'],
  canary: ['primary', 'canary', 'percent'],
  bandit: ['algorithm', 'minShare', 'epsilon', 'vetoed'],
  plan: ['primary', 'candidate', 'steps', 'step', 'paused'],
};

/** Rules class-validator cannot express: names unique, strategy refers to known variants. */
export function specProblems(spec: DeploymentSpecInput): string[] {
  const problems: string[] = [];
  const names = spec.variants.map((variant) => variant.name);
  const duplicates = names.filter((name, index) => names.indexOf(name) !== index);
  if (duplicates.length) problems.push(`variants: duplicate names ${[...new Set(duplicates)].join(', ')}`);

  const strategy = spec.strategy;
  const allowed = new Set<string>(['type', ...FIELDS_BY_TYPE[strategy.type]]);
  for (const field of Object.keys(strategy)) {
    if (!allowed.has(field) && strategy[field as keyof StrategySpec] !== undefined) {
      problems.push(`strategy.${field} does not apply to strategy ${strategy.type}`);
    }
  }
  const known = new Set(names);
  const refs: [string, string | undefined][] = [
    ['variant', strategy.variant],
    ['primary', strategy.primary],
    ['canary', strategy.canary],
    ['candidate', strategy.candidate],
    ...(strategy.shadows ?? []).map((shadow, i): [string, string] => [`shadows.${i}`, shadow]),
    ...(strategy.vetoed ?? []).map((arm, i): [string, string] => [`vetoed.${i}`, arm]),
  ];
  for (const [field, ref] of refs) {
    if (ref !== undefined && !known.has(ref)) problems.push(`strategy.${field}: unknown variant "${ref}"`);
  }
  if (strategy.type === 'canary' && strategy.primary !== undefined && strategy.primary === strategy.canary) {
    problems.push('strategy.canary must differ from strategy.primary');
  }
  if (strategy.type === 'shadow' && strategy.primary !== undefined && strategy.shadows?.includes(strategy.primary)) {
    problems.push('strategy.shadows must not include the primary');
  }
  if (strategy.type === 'bandit' && spec.variants.length < 2) {
    problems.push('variants: a bandit needs at least 2 variants');
  }
  if (strategy.type === 'bandit' && (strategy.minShare ?? 0) * spec.variants.length > 1) {
    problems.push('strategy.minShare times the number of variants must not exceed 1');
  }
  if (strategy.type === 'bandit' && strategy.vetoed && strategy.vetoed.length >= spec.variants.length) {
    problems.push('strategy.vetoed must leave at least one arm free');
  }
  if (strategy.type === 'plan') problems.push(...planProblems(strategy));
  if (spec.guardrails) problems.push(...guardrailProblems(spec.guardrails, strategy));
  return problems;
}

function planProblems(plan: StrategySpec): string[] {
  const problems: string[] = [];
  if (plan.primary !== undefined && plan.primary === plan.candidate) problems.push('strategy.candidate must differ from strategy.primary');
  const steps = plan.steps ?? [];
  let lastCanary: { index: number; percent: number } | undefined;
  steps.forEach((step, index) => {
    const kind = planStepKind(step);
    if (!kind) return void problems.push(`strategy.steps.${index} must have exactly one of ${PLAN_STEP_KINDS.join(', ')}`);
    if (kind === 'promote' && index !== steps.length - 1) problems.push(`strategy.steps.${index}: promote must be the last step`);
    if (kind === 'canary') {
      if (lastCanary && step.canary! < lastCanary.percent) {
        problems.push(
          `strategy.steps.${index}.canary (${step.canary}) must not go below step ${lastCanary.index}'s ${lastCanary.percent}: canary steps only widen`,
        );
      }
      lastCanary = { index, percent: step.canary! };
    }
  });
  if (steps.length && planStepKind(steps[steps.length - 1]) !== 'promote') problems.push('strategy.steps: a plan must end with {"promote": true}');
  if (plan.step !== undefined && plan.step >= steps.length) problems.push(`strategy.step (${plan.step}) must be below the number of steps (${steps.length})`);
  return problems;
}

function guardrailProblems(guardrails: GuardrailsSpec, strategy: StrategySpec): string[] {
  const problems: string[] = [];
  if (strategy.type === 'single') problems.push('guardrails: strategy single has no candidate to judge; use canary, shadow or bandit');
  const { minSamples, maxSamples } = { ...GUARDRAIL_DEFAULTS, ...definedFields(guardrails) };
  if (maxSamples < minSamples) problems.push(`guardrails.maxSamples (${maxSamples}) must be at least guardrails.minSamples (${minSamples})`);
  return problems;
}

function definedFields<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as Partial<T>;
}

/** Validates a PUT body in full: shape, then cross-references. */
export function validateDeploymentSpec(plain: unknown): Validated<DeploymentSpecInput> {
  const result = validatePlain(DeploymentSpecInput, plain);
  if (!result.ok) return result;
  const problems = specProblems(result.value);
  return problems.length ? { ok: false, problems } : result;
}

export function isValidName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

/** What gets stored for a validated PUT body: defaults filled in, unknown-to-type fields gone. */
export function normalizeSpec(name: string, input: DeploymentSpecInput, now: Date = new Date()): Omit<DeploymentSpec, 'version'> {
  const strategy = Object.fromEntries(
    Object.entries(input.strategy).filter(
      ([field, value]) => value !== undefined && (field === 'type' || FIELDS_BY_TYPE[input.strategy.type].includes(field as keyof StrategySpec)),
    ),
  ) as unknown as StrategySpec;
  if (strategy.type === 'plan') strategy.step ??= 0;
  return {
    name,
    updatedAt: now.toISOString(),
    variants: input.variants.map((variant) => ({
      name: variant.name,
      url: variant.url.replace(/\/+$/, ''),
      ...(variant.model === undefined ? {} : { model: variant.model }),
      protocol: variant.protocol ?? 'v2',
      timeoutMs: variant.timeoutMs ?? 1000,
      retries: variant.retries ?? 0,
    })),
    strategy,
    reward: input.reward ? { ...input.reward } : { type: 'match' },
    ...(input.guardrails && { guardrails: { ...GUARDRAIL_DEFAULTS, ...definedFields(input.guardrails) } }),
  };
}

/**
 * The stored body of `spec` under another strategy: what promote, rollback decisions and
 * plan actions write. Its guardrails stay, unless the strategy becomes `single`, which
 * has nothing left to judge (and which a PUT with guardrails is refused for).
 */
export function withStrategy(spec: DeploymentSpec, strategy: StrategySpec, now: Date = new Date()): Omit<DeploymentSpec, 'version'> {
  const { version: _version, guardrails, ...body } = spec;
  return { ...body, updatedAt: now.toISOString(), strategy, ...(guardrails && strategy.type !== 'single' && { guardrails }) };
}
