import { OipDatatype, OipTensor } from './rules';

/** Name of the one tensor a json-protocol answer becomes when it is not an object of named outputs. */
export const JSON_OUTPUT_TENSOR = 'output';

/**
 * A json-protocol variant's `outputs` as OIP tensors, so `/v2` answers in OIP form
 * whichever protocol the serving variant speaks: an object's fields become tensors of
 * their names (`{label: 1, score: 0.8}` → `label` INT64 [1], `score` FP64 [1]), anything
 * else one tensor named `output`. A value must be a scalar or a rectangular array of
 * scalars of one kind (an empty one is FP64); anything else throws, saying why.
 */
export function jsonOutputsAsTensors(outputs: unknown): OipTensor[] {
  const named = outputs !== null && typeof outputs === 'object' && !Array.isArray(outputs);
  const entries = named ? Object.entries(outputs as Record<string, unknown>) : [[JSON_OUTPUT_TENSOR, outputs] as const];
  return entries.map(([name, value]) => asTensor(name, value));
}

function asTensor(name: string, value: unknown): OipTensor {
  const shape: number[] = [];
  let level: unknown = value;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0];
  }
  const data = Array.isArray(value) ? (value.flat(shape.length - 1) as unknown[]) : [value];
  if (!Array.isArray(value)) shape.push(1);
  const expected = shape.reduce((product, d) => product * d, 1);
  if (data.length !== expected || data.some(Array.isArray)) throw new Error(`output "${name}" is not a rectangular array`);
  return { name, shape, datatype: datatypeOf(name, data), data };
}

function datatypeOf(name: string, data: unknown[]): OipDatatype {
  if (!data.length) return 'FP64';
  if (data.every((x) => typeof x === 'boolean')) return 'BOOL';
  if (data.every((x) => typeof x === 'string')) return 'BYTES';
  if (data.every((x) => typeof x === 'number')) return data.every(Number.isInteger) ? 'INT64' : 'FP64';
  throw new Error(`output "${name}" mixes kinds of values or holds objects or nulls; OIP tensors hold numbers, strings or booleans of one kind`);
}
