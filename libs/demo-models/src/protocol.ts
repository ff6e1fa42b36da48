import { FEATURE_COUNT } from './churn';
import { Prediction } from './models';

/**
 * One Open Inference Protocol (KServe v2) tensor, as JSON carries it. Structurally the
 * same as the contracts' `InferTensor`, declared here so this library imports nothing.
 */
export interface Tensor {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown[];
  parameters?: Record<string, unknown>;
}

/** Name of the one input tensor the churn models read. */
export const FEATURES_TENSOR = 'features';

const NUMERIC_DATATYPES = new Set(['UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64']);

/** Input tensor metadata, as `GET /v2/models/{name}` describes it (-1: any batch size). */
export const INPUT_METADATA = Object.freeze([{ name: FEATURES_TENSOR, datatype: 'FP32', shape: [-1, FEATURE_COUNT] }]);
export const OUTPUT_METADATA = Object.freeze([
  { name: 'label', datatype: 'INT64', shape: [-1] },
  { name: 'score', datatype: 'FP32', shape: [-1] },
]);

function isRow(value: unknown): value is readonly number[] {
  return Array.isArray(value) && !Array.isArray(value[0]);
}

/**
 * OIP `inputs` for one feature vector (`shape [1, 4]`) or a batch of them (`[n, 4]`),
 * data flattened in row-major order.
 */
export function toInferInputs(features: readonly number[] | readonly (readonly number[])[]): Tensor[] {
  const rows = isRow(features) ? [features] : (features as readonly (readonly number[])[]);
  return [{ name: FEATURES_TENSOR, shape: [rows.length, FEATURE_COUNT], datatype: 'FP32', data: rows.flat() }];
}

/**
 * Reads the feature rows out of OIP `inputs`: the tensor named `features`, of shape
 * `[n, 4]` (or `[4]` for one row), numeric datatype, data flat or nested, every value a
 * finite number. Throws an Error whose message says what is wrong.
 */
export function featuresFromInferInputs(inputs: unknown): number[][] {
  if (!Array.isArray(inputs)) throw new Error('inputs must be an array of tensors');
  const tensor = inputs.find((input) => (input as Partial<Tensor> | null)?.name === FEATURES_TENSOR) as Partial<Tensor> | undefined;
  if (!tensor) {
    const names = inputs.map((input) => JSON.stringify((input as Partial<Tensor> | null)?.name ?? null)).join(', ');
    throw new Error(`missing input tensor "${FEATURES_TENSOR}" (shape [n, ${FEATURE_COUNT}]); got ${names || 'no tensors'}`);
  }
  const label = `input tensor "${FEATURES_TENSOR}"`;
  if (typeof tensor.datatype !== 'string' || !NUMERIC_DATATYPES.has(tensor.datatype)) {
    throw new Error(`${label} must have a numeric datatype such as FP32; got ${JSON.stringify(tensor.datatype ?? null)}`);
  }
  const shape = tensor.shape;
  const shapeOk =
    Array.isArray(shape) &&
    shape.every((dim) => Number.isInteger(dim) && dim >= 0) &&
    ((shape.length === 1 && shape[0] === FEATURE_COUNT) || (shape.length === 2 && shape[1] === FEATURE_COUNT));
  if (!shapeOk) throw new Error(`${label} must have shape [n, ${FEATURE_COUNT}] or [${FEATURE_COUNT}]; got ${JSON.stringify(shape ?? null)}`);
  const rowCount = shape.length === 1 ? 1 : shape[0];
  if (rowCount < 1) throw new Error(`${label} must hold at least one row; got shape ${JSON.stringify(shape)}`);
  if (!Array.isArray(tensor.data)) throw new Error(`${label} must have a data array`);
  const data = tensor.data.some(Array.isArray) ? (tensor.data.flat(Infinity) as unknown[]) : tensor.data;
  const expected = rowCount * FEATURE_COUNT;
  if (data.length !== expected) {
    throw new Error(`${label} has shape ${JSON.stringify(shape)} so needs ${expected} values; got ${data.length}`);
  }
  const bad = data.findIndex((value) => typeof value !== 'number' || !Number.isFinite(value));
  if (bad >= 0) throw new Error(`${label} value ${bad} must be a finite number; got ${describe(data[bad])}`);
  const rows: number[][] = [];
  for (let r = 0; r < rowCount; r++) rows.push((data as number[]).slice(r * FEATURE_COUNT, (r + 1) * FEATURE_COUNT));
  return rows;
}

/** OIP `outputs` for a batch of predictions: `label` (INT64, `[n]`) and `score` (FP32, `[n]`). */
export function toInferOutputs(predictions: readonly Prediction[]): Tensor[] {
  const n = predictions.length;
  return [
    { name: 'label', shape: [n], datatype: 'INT64', data: predictions.map((p) => p.label) },
    { name: 'score', shape: [n], datatype: 'FP32', data: predictions.map((p) => p.score) },
  ];
}

export interface JsonFeatures {
  rows: number[][];
  /** True when the request held several rows (an array of arrays): answer with arrays. */
  batched: boolean;
}

const JSON_SHAPES = `inputs must be {"features": [${FEATURE_COUNT} numbers]}, [${FEATURE_COUNT} numbers], or a batch: an array of such arrays`;

/**
 * Reads the plain JSON protocol's `inputs`: `{features: [x0..x3]}` or `[x0..x3]`, or a
 * batch `[[...], [...]]` (also under `features`). Throws an Error saying what is wrong.
 */
export function featuresFromJsonInputs(inputs: unknown): JsonFeatures {
  let value = inputs;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    if (!(FEATURES_TENSOR in value)) throw new Error(JSON_SHAPES);
    value = (value as Record<string, unknown>)[FEATURES_TENSOR];
  }
  if (!Array.isArray(value)) throw new Error(JSON_SHAPES);
  if (value.length > 0 && value.every(Array.isArray)) {
    value.forEach((row: unknown[], index) => checkJsonRow(row, `inputs row ${index}`));
    return { rows: value as number[][], batched: true };
  }
  if (value.some(Array.isArray)) throw new Error(JSON_SHAPES);
  checkJsonRow(value, 'inputs');
  return { rows: [value as number[]], batched: false };
}

function checkJsonRow(row: unknown[], label: string): void {
  if (row.length !== FEATURE_COUNT) throw new Error(`${label} must have ${FEATURE_COUNT} numbers; got ${row.length}`);
  const bad = row.findIndex((value) => typeof value !== 'number' || !Number.isFinite(value));
  if (bad >= 0) throw new Error(`${label} value ${bad} must be a finite number; got ${describe(row[bad])}`);
}

/** The plain JSON protocol's `outputs`: scalars for one row, arrays for a batch. */
export function toJsonOutputs(predictions: readonly Prediction[], batched: boolean): { label: number | number[]; score: number | number[] } {
  if (batched) return { label: predictions.map((p) => p.label), score: predictions.map((p) => p.score) };
  return { label: predictions[0].label, score: predictions[0].score };
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
