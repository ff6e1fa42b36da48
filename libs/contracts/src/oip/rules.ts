import { ExactInteger } from './json';

/**
 * The Open Inference Protocol's rules for requests and tensors, from the vendored
 * specification (libs/contracts/oip/spec: open_inference_rest.yaml, inference_rest.md): the schema's
 * structure (its README says which commit), plus the prose rules it leaves out:
 * known datatypes, shape × data length, element types and ranges. Pure, so the router,
 * the demo model server and the conformance suite apply the same ones.
 */

/** The spec's datatype table, plus BF16, which its prose names and Triton serves. */
export const OIP_DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'BF16',
  'FP32',
  'FP64',
  'BYTES',
] as const;
export type OipDatatype = (typeof OIP_DATATYPES)[number];

const INTEGER_RANGES: Partial<Record<OipDatatype, [bigint, bigint]>> = {
  INT8: [-(2n ** 7n), 2n ** 7n - 1n],
  INT16: [-(2n ** 15n), 2n ** 15n - 1n],
  INT32: [-(2n ** 31n), 2n ** 31n - 1n],
  INT64: [-(2n ** 63n), 2n ** 63n - 1n],
  UINT8: [0n, 2n ** 8n - 1n],
  UINT16: [0n, 2n ** 16n - 1n],
  UINT32: [0n, 2n ** 32n - 1n],
  UINT64: [0n, 2n ** 64n - 1n],
};
// Within these, a JavaScript number is compared directly; only 64-bit ends need bigint.
const NUMBER_RANGES = Object.fromEntries(Object.entries(INTEGER_RANGES).map(([type, [low, high]]) => [type, [Number(low), Number(high)]])) as Record<
  string,
  [number, number]
>;

export interface OipTensor {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: Record<string, unknown>;
  data: unknown[];
}

export interface OipRequestedOutput {
  name: string;
  parameters?: Record<string, unknown>;
}

/** A spec-valid inference request (fields the spec does not name are allowed, and ignored). */
export interface OipInferRequest {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: OipTensor[];
  outputs?: OipRequestedOutput[];
}

/** An Open Inference Protocol inference response, as the router and the demo model server answer it. */
export interface InferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, unknown>;
  outputs: OipTensor[];
}

/** Most problems listed for one body: a 1 MB tensor of wrong values would otherwise list them all. */
const MAX_PROBLEMS = 10;
/** Most characters of an element quoted in a problem: a BYTES element may be megabytes long. */
const MAX_QUOTED_CHARS = 64;

/**
 * The work one inference request may ask for, checked before any tensor is read: 14 000
 * tensors of one element each once held the event loop 1.7 s and answered a 10.8 MB error.
 */
export interface OipRequestLimits {
  /** Input tensors, and requested outputs, at most. @default 256 */
  maxTensors: number;
  /** Elements of all input tensors together at most, as their shapes declare them. @default 4 194 304 (2^22) */
  maxElements: number;
}

export const DEFAULT_OIP_REQUEST_LIMITS: OipRequestLimits = { maxTensors: 256, maxElements: 2 ** 22 };

/**
 * Why a request asks for more work than `limits` allow, or undefined: counted from the
 * lengths of `inputs` and `outputs` and the declared shapes only, so a hostile body costs
 * no more than its tensor count to refuse (a tensor whose shape is not one counts its data's
 * length, and is refused by `tensorProblems`; a data length that disagrees with its shape is refused there).
 */
export function requestLimitProblem(body: unknown, limits: OipRequestLimits = DEFAULT_OIP_REQUEST_LIMITS): string | undefined {
  if (!isObject(body)) return undefined;
  const { inputs, outputs } = body;
  if (Array.isArray(inputs) && inputs.length > limits.maxTensors)
    return `inputs has ${inputs.length} tensors; at most ${limits.maxTensors} are accepted in one request`;
  if (Array.isArray(outputs) && outputs.length > limits.maxTensors)
    return `outputs names ${outputs.length} tensors; at most ${limits.maxTensors} are accepted in one request`;
  if (!Array.isArray(inputs)) return undefined;
  let elements = 0;
  for (const tensor of inputs) {
    const shape = isObject(tensor) ? tensor.shape : undefined;
    if (Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0))
      elements += (shape as number[]).reduce((product, d) => product * d, 1);
    else if (isObject(tensor) && Array.isArray(tensor.data)) elements += tensor.data.length;
  }
  if (elements > limits.maxElements) return `inputs declare ${elements} elements in all; at most ${limits.maxElements} are accepted in one request`;
  return undefined;
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/** What is wrong with an inference request body, per the spec and within `limits`; empty when nothing. */
export function inferRequestProblems(body: unknown, limits: OipRequestLimits = DEFAULT_OIP_REQUEST_LIMITS): string[] {
  if (!isObject(body)) return ['body must be a JSON object'];
  const tooMuch = requestLimitProblem(body, limits);
  if (tooMuch) return [tooMuch];
  const problems: string[] = [];
  if (body.id !== undefined && typeof body.id !== 'string') problems.push('id must be a string');
  if (body.parameters !== undefined && !isObject(body.parameters)) problems.push('parameters must be an object');
  if (!Array.isArray(body.inputs)) problems.push('inputs must be an array of tensors');
  else body.inputs.forEach((tensor, i) => problems.push(...tensorProblems(tensor, `inputs.${i}`)));
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs)) problems.push('outputs must be an array');
    else
      body.outputs.forEach((output, i) => {
        if (!isObject(output) || typeof output.name !== 'string') problems.push(`outputs.${i} must be an object with a string name`);
        else if (output.parameters !== undefined && !isObject(output.parameters)) problems.push(`outputs.${i}.parameters must be an object`);
      });
  }
  return problems.slice(0, MAX_PROBLEMS);
}

/** What is wrong with one request or response tensor at `path`; empty when nothing. */
export function tensorProblems(tensor: unknown, path: string): string[] {
  if (!isObject(tensor)) return [`${path} must be a tensor object`];
  const problems: string[] = [];
  if (typeof tensor.name !== 'string') problems.push(`${path}.name must be a string`);
  const shapeOk = Array.isArray(tensor.shape) && tensor.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0);
  if (!shapeOk) problems.push(`${path}.shape must be an array of non-negative integers`);
  const datatype = OIP_DATATYPES.includes(tensor.datatype as OipDatatype) ? (tensor.datatype as OipDatatype) : undefined;
  if (!datatype) problems.push(`${path}.datatype must be one of ${OIP_DATATYPES.join(', ')}`);
  if (tensor.parameters !== undefined && !isObject(tensor.parameters)) problems.push(`${path}.parameters must be an object`);
  // Triton's binary extension: the data follows the JSON (its sizes are checked by binaryDataProblems).
  if (isObject(tensor.parameters) && tensor.parameters.binary_data_size !== undefined) {
    if (tensor.data !== undefined) problems.push(`${path} has both data and parameters.binary_data_size; binary data follows the JSON`);
    return problems;
  }
  if (!Array.isArray(tensor.data)) {
    problems.push(`${path}.data must be an array`);
    return problems;
  }
  const elements = flatElements(tensor.data);
  if (!elements) return [...problems, `${path}.data must hold numbers, strings or booleans, flat or nested in arrays`];
  if (shapeOk) {
    const expected = (tensor.shape as number[]).reduce((product, d) => product * d, 1);
    if (elements.length !== expected)
      problems.push(`${path}.data has ${elements.length} elements; shape [${(tensor.shape as number[]).join(', ')}] needs ${expected}`);
  }
  if (datatype) {
    const index = elements.findIndex((element) => !elementFits(element, datatype));
    if (index >= 0) problems.push(`${path}.data element ${index} (${quoted(String(elements[index]))}) is not a valid ${datatype}`);
  }
  return problems;
}

function quoted(text: string): string {
  return text.length > MAX_QUOTED_CHARS ? `${text.slice(0, MAX_QUOTED_CHARS)}… (${text.length} characters)` : text;
}

/** Row-major elements of `data`, flat or nested; undefined if it holds anything but scalars and arrays. */
function flatElements(data: unknown[]): unknown[] | undefined {
  if (!data.some(Array.isArray)) return data.every(isElement) ? data : undefined;
  const out: unknown[] = [];
  const walk = (items: unknown[]): boolean => items.every((item) => (Array.isArray(item) ? walk(item) : isElement(item) && out.push(item) > 0));
  return walk(data) ? out : undefined;
}

function isElement(value: unknown): boolean {
  const type = typeof value;
  return type === 'number' || type === 'string' || type === 'boolean' || value instanceof ExactInteger;
}

/** Whether one JSON element is a value of `datatype`: the spec's sizes give the integer ranges. */
export function elementFits(element: unknown, datatype: OipDatatype): boolean {
  switch (datatype) {
    case 'BOOL':
      return typeof element === 'boolean';
    case 'BYTES':
      return typeof element === 'string';
    case 'FP16':
    case 'BF16':
    case 'FP32':
    case 'FP64':
      return typeof element === 'number';
    default: {
      if (element instanceof ExactInteger) {
        const [low, high] = INTEGER_RANGES[datatype]!;
        const value = BigInt(element.text);
        return value >= low && value <= high;
      }
      if (typeof element !== 'number' || !Number.isInteger(element)) return false;
      const [low, high] = NUMBER_RANGES[datatype];
      return element >= low && element <= high;
    }
  }
}
