import type { RewardSpec } from '@switchyard/contracts';

/** How the bandit models rewards: successes and failures, or a number on any scale. */
export type RewardKind = 'binary' | 'continuous';

export interface Feedback {
  label?: unknown;
  reward?: number;
}

/** `outOfRange`: the feedback's own reward is outside the spec's range (the feedback is at fault, not the pair). */
export type RewardResult =
  /** `mismatch`: a `match` reward of 0 because the label is of a kind the output can never equal (`cannotEqual`). */
  { ok: true; reward: number; mismatch?: string } | { ok: false; reason: string; outOfRange?: true };

/**
 * `match` yields 0 or 1, so a Beta posterior fits; `negAbsError` and `explicit` take any
 * value of their range, so they are treated as continuous (a Gaussian posterior also
 * handles 0/1 rewards, only less sharply).
 */
export function rewardKindOf(reward: Pick<RewardSpec, 'type'>): RewardKind {
  return reward.type === 'match' ? 'binary' : 'continuous';
}

/**
 * The rewards a spec can yield, bounds included: `match` [0, 1]; `explicit` [min, max],
 * default [0, 1]; `negAbsError` [-maxError, 0], default maxError 1. Bounded, so that one
 * feedback cannot outweigh the rest (a reward of 1e150 took a bandit over) nor overflow
 * the statistics' sums of squares.
 */
export function rewardRange(spec: Pick<RewardSpec, 'type' | 'min' | 'max' | 'maxError'>): { min: number; max: number } {
  switch (spec.type) {
    case 'match':
      return { min: 0, max: 1 };
    case 'explicit':
      return { min: spec.min ?? 0, max: spec.max ?? 1 };
    case 'negAbsError':
      return { min: -(spec.maxError ?? 1), max: 0 };
  }
}

/** Why an explicit reward is refused by its spec's range, or undefined when it is in it. */
export function explicitRewardProblem(spec: Pick<RewardSpec, 'type' | 'min' | 'max' | 'maxError'>, reward: number): string | undefined {
  const { min, max } = rewardRange(spec);
  return reward >= min && reward <= max ? undefined : `reward ${reward} is outside the deployment's reward range [${min}, ${max}]`;
}

// JSON never nests this deep; the cap only guards against a cyclic object.
const MAX_DEPTH = 64;

function isScalar(value: unknown): boolean {
  return value === null || typeof value !== 'object';
}

/** "The first value of the first output", whatever the shape: an OIP outputs array, a JSON object, a list. */
function firstValue(outputs: unknown): unknown {
  let current = outputs;
  for (let depth = 0; depth < MAX_DEPTH && !isScalar(current); depth++) {
    if (Array.isArray(current)) current = current[0];
    else if (Array.isArray((current as { data?: unknown }).data)) current = (current as { data: unknown[] }).data[0];
    else current = Object.values(current as object)[0];
  }
  return isScalar(current) ? current : undefined;
}

/**
 * The value at a dot path in a variant's outputs (`0.data.0`, `label`, `scores.1`);
 * numeric segments index arrays, and a name indexes an array of OIP tensors by tensor
 * name (`label.data.0`: the `label` tensor wherever it is, whichever outputs the client
 * asked for). Without a path, the first value of the first output: `outputs[0].data[0]`
 * for an Open Inference Protocol answer. Undefined when absent.
 */
export function valueAtPath(outputs: unknown, path?: string): unknown {
  if (path === undefined || path === '') return firstValue(outputs);
  let current = outputs;
  for (const segment of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    if (Array.isArray(current)) {
      current = /^\d+$/.test(segment) ? current[Number(segment)] : current.find((item) => (item as { name?: unknown } | null)?.name === segment);
    } else {
      if (!Object.hasOwn(current, segment)) return undefined;
      current = (current as Record<string, unknown>)[segment];
    }
  }
  return current;
}

/** A finite number, or a string that spells one; undefined otherwise. */
function numericValue(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const number = Number(value);
  return Number.isFinite(number) ? number : undefined;
}

/** `numericValue`, plus booleans and "true"/"false" as 1 and 0, for loose label comparison. */
function looseNumber(value: unknown): number | undefined {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    if (text === 'true') return 1;
    if (text === 'false') return 0;
  }
  return numericValue(value);
}

/**
 * Equality across the types a label arrives in: a model says 1, the label says "1" or
 * true. Strings that are not numbers compare exactly; arrays and objects element-wise.
 */
export function looselyEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === undefined || b === undefined) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => looselyEqual(item, b[i]));
  }
  if (typeof a === 'object' || typeof b === 'object') {
    if (typeof a !== 'object' || typeof b !== 'object') return false;
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length &&
      keys.every((key) => Object.hasOwn(b, key) && looselyEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]))
    );
  }
  const x = looseNumber(a);
  const y = looseNumber(b);
  if (x !== undefined && y !== undefined) return x === y;
  return typeof a === 'string' && typeof b === 'string' && a === b;
}

/** What `looselyEqual` can tell apart: values of two different kinds are never equal. */
function looseKind(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return looseNumber(value) === undefined ? 'text' : 'a number';
}

/**
 * Why `label` can never equal `predicted` under `looselyEqual` (a label "churn" against an
 * output 1, a list against a number), or undefined when it might: such labels score 0
 * whatever the model answers, which a `match` reward would otherwise report as a bad model.
 */
export function cannotEqual(predicted: unknown, label: unknown, path?: string): string | undefined {
  const [output, given] = [looseKind(predicted), looseKind(label)];
  return output === given
    ? undefined
    : `a label of ${given} can never equal the output ${describePath(path)}, ${output} (label ${JSON.stringify(label)?.slice(0, 40)})`;
}

function describePath(path?: string): string {
  return path ? `at "${path}"` : '(first value of the first output)';
}

/** The reward one prediction earned given its feedback; a reason instead when it cannot be scored. */
export function computeReward(spec: Pick<RewardSpec, 'type' | 'outputPath' | 'min' | 'max' | 'maxError'>, outputs: unknown, feedback: Feedback): RewardResult {
  if (spec.type === 'explicit') {
    const reward = feedback.reward;
    if (typeof reward !== 'number' || !Number.isFinite(reward)) return { ok: false, reason: 'reward type explicit needs a numeric reward in the feedback' };
    const problem = explicitRewardProblem(spec, reward);
    return problem ? { ok: false, reason: problem, outOfRange: true } : { ok: true, reward };
  }
  if (feedback.label === undefined) return { ok: false, reason: `reward type ${spec.type} needs a label in the feedback` };
  const predicted = valueAtPath(outputs, spec.outputPath);
  if (predicted === undefined) return { ok: false, reason: `no output ${describePath(spec.outputPath)}` };

  if (spec.type === 'match') {
    if (looselyEqual(predicted, feedback.label)) return { ok: true, reward: 1 };
    const mismatch = cannotEqual(predicted, feedback.label, spec.outputPath);
    return mismatch ? { ok: true, reward: 0, mismatch } : { ok: true, reward: 0 };
  }

  const x = numericValue(predicted);
  const y = numericValue(feedback.label);
  if (x === undefined) return { ok: false, reason: `output ${describePath(spec.outputPath)} is not numeric: ${JSON.stringify(predicted)}` };
  if (y === undefined) return { ok: false, reason: `label is not numeric: ${JSON.stringify(feedback.label)}` };
  // 0 - |e| rather than -|e|, so a perfect prediction scores 0, not -0; |e| of two huge
  // numbers may be Infinity, which the clip bounds too.
  return { ok: true, reward: 0 - Math.min(Math.abs(x - y), -rewardRange(spec).min) };
}

/** Whether two variants gave the same answer at `path`, for the shadow report; a missing value never agrees. */
export function outputsAgree(a: unknown, b: unknown, path?: string): boolean {
  const x = valueAtPath(a, path);
  const y = valueAtPath(b, path);
  return x !== undefined && y !== undefined && looselyEqual(x, y);
}
