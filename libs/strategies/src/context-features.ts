import { contextDimension, type ContextFeatureSpec, type ContextSpec } from '@switchyard/contracts';

/** What a contextual bandit reads of a predict request. */
export interface ContextSource {
  /** The request's `inputs`: OIP tensors (`{name, data}`) or a json-protocol document. */
  inputs: unknown;
  /** The predict body's `context` object, if any. */
  context?: unknown;
}

/**
 * The encoded context, or why there is none. A refused request is served by the
 * context-free weights: a bandit that cannot read a request's features must still answer it.
 */
export type ExtractedContext = { ok: true; x: number[] } | { ok: false; reason: string };

/** One level of a path or tensor at most this deep is read; a deeper document is not a context. */
const MAX_PATH_DEPTH = 16;

/** An own property only: a path such as "constructor" must not reach Object.prototype. */
function own(value: unknown, key: string): unknown {
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    if (!/^(0|[1-9]\d{0,8})$/.test(key)) return undefined;
    return value[Number(key)];
  }
  return Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
}

/** Element `index` of a tensor's data in row-major order, flat or nested as OIP allows. */
function tensorElement(data: unknown, index: number): unknown {
  if (!Array.isArray(data)) return undefined;
  if (!Array.isArray(data[0])) return data[index];
  const flat = (data as unknown[]).flat(MAX_PATH_DEPTH);
  return flat[index];
}

function rawValue(feature: ContextFeatureSpec, source: ContextSource): unknown {
  if (feature.context !== undefined) return own(source.context, feature.context);
  if (feature.input !== undefined) {
    if (!Array.isArray(source.inputs)) return undefined;
    const tensor = source.inputs.find((t: unknown) => own(t, 'name') === feature.input);
    return tensorElement(own(tensor, 'data'), feature.index ?? 0);
  }
  if (feature.path !== undefined) return feature.path.split('.', MAX_PATH_DEPTH + 1).reduce<unknown>((value, key) => own(value, key), source.inputs);
  return undefined;
}

/** Numbers as themselves, booleans as 1/0, numeric strings parsed; anything else is missing. */
function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/**
 * The context vector of a request: [1 (the intercept), then each feature in the declared
 * order]. A numeric feature is clipped to [min, max] then scaled; missing or not a number,
 * it takes its `default`, and without one the request has no context (the reason says
 * which feature). A categorical feature is one-hot over its levels (values compared as
 * strings); a missing value or a level not declared encodes as all zeros, which the
 * intercept then stands for: "none of the declared levels". Never throws.
 */
export function extractContext(spec: ContextSpec, source: ContextSource): ExtractedContext {
  const x = new Array<number>(contextDimension(spec)).fill(0);
  x[0] = 1;
  let at = 1;
  for (const feature of spec.features) {
    const value = rawValue(feature, source);
    if (feature.type === 'categorical') {
      const levels = feature.levels ?? [];
      const level = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? levels.indexOf(String(value)) : -1;
      if (level >= 0) x[at + level] = 1;
      at += levels.length;
      continue;
    }
    let n = asNumber(value) ?? feature.default;
    if (n === undefined) return { ok: false, reason: `feature "${feature.name}" is missing or not a number, and has no default` };
    if (feature.min !== undefined) n = Math.max(n, feature.min);
    if (feature.max !== undefined) n = Math.min(n, feature.max);
    x[at++] = n * (feature.scale ?? 1);
  }
  return { ok: true, x };
}
