import { join } from 'node:path';
import { binaryDataSize, binarySlices, ELEMENT_BYTES, OipWireTensor } from './binary';
import { ExactInteger, oipStringify } from './json';
import { InferResponse, OipInferRequest, OipRequestedOutput, OipTensor } from './rules';

/**
 * The Open Inference Protocol over gRPC (`inference.GRPCInferenceService`, the vendored
 * libs/contracts/oip/spec/open_inference_grpc.proto and inference_grpc.md) converted to and
 * from the JSON form every other part of Switchyard reads (OipInferRequest, OipTensor),
 * so a gRPC request takes the same path as a REST one. Messages are as
 * `@grpc/proto-loader` gives them with GRPC_LOADER_OPTIONS: snake_case fields, 64-bit
 * integers as decimal strings, bytes as Buffers. Pure: the loading is in libs/model-client.
 *
 * Raw contents (`raw_input_contents`, `raw_output_contents`): each tensor's elements
 * flattened row-major, little-endian (as Triton and tritonclient lay them out), FP16 and
 * BF16 as their 16-bit patterns, BYTES as each element's length (4 bytes, little-endian)
 * followed by its bytes (tritonclient's `serialize_byte_tensor`). BYTES elements are
 * UTF-8 text here, as in OIP's JSON.
 */

/** Where the service definition is, from this file's folder in the source tree and in dist/ alike (scripts/post-build.sh copies it). */
export const OIP_GRPC_PROTO = join(__dirname, '..', '..', 'oip', 'spec', 'open_inference_grpc.proto');

/** How the proto is loaded: field names as the proto spells them, int64 as strings (exact), defaults filled in. */
export const GRPC_LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true } as const;

type Int64 = string | number;

export interface GrpcParameter {
  bool_param?: boolean;
  int64_param?: Int64;
  string_param?: string;
  double_param?: number;
  uint64_param?: Int64;
  parameter_choice?: string;
}
export type GrpcParameters = Record<string, GrpcParameter>;

export interface GrpcContents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: Int64[];
  uint_contents?: number[];
  uint64_contents?: Int64[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Buffer[];
}

export interface GrpcTensor {
  name: string;
  datatype: string;
  shape: Int64[];
  parameters?: GrpcParameters;
  contents?: GrpcContents | null;
}

export interface GrpcInferRequest {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: GrpcParameters;
  inputs: GrpcTensor[];
  outputs?: { name: string; parameters?: GrpcParameters }[];
  raw_input_contents?: Buffer[];
}

export interface GrpcInferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: GrpcParameters;
  outputs: GrpcTensor[];
  raw_output_contents?: Buffer[];
}

/** A message that cannot be converted: the sender's mistake (INVALID_ARGUMENT), with the reason. */
export class OipGrpcError extends Error {}

type ContentsField = keyof GrpcContents;

/** The typed contents field of each datatype (the proto's InferTensorContents); FP16 and BF16 have none: raw only. */
const CONTENTS_FIELD: Record<string, ContentsField> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
};
const CONTENTS_FIELDS = [...new Set(Object.values(CONTENTS_FIELD))];

/** Datatypes the proto can carry only as raw contents. */
const RAW_ONLY = new Set(['FP16', 'BF16']);

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A 64-bit integer as exact a value as JSON form holds: a number when it is safe, else an ExactInteger. */
function exact(value: bigint | Int64): number | ExactInteger {
  const big = BigInt(value);
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : new ExactInteger(big.toString());
}

const asBigInt = (element: unknown): bigint => BigInt(element instanceof ExactInteger ? element.text : (element as number | string));

function shapeOf(shape: Int64[]): number[] {
  return shape.map(Number);
}

function elementCount(shape: number[], path: string): number {
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new OipGrpcError(`${path}.shape must be an array of non-negative integers`);
  return shape.reduce((product, d) => product * d, 1);
}

// One float32 view, so FP16 and BF16 conversions go through the float's bits without allocating.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 bits to a number. */
export function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** A number to binary16 bits, rounded to nearest even (from its float32 bits, as numpy's float16 cast of a float32). */
export function numberToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  let shift = 13;
  let bits: number;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    shift = 14 - e;
    bits = mantissa >> shift;
  } else bits = (e << 10) | (mantissa >> 13);
  const rest = mantissa & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  // A carry out of the fraction moves into the exponent, which is the right rounding too.
  if (rest > half || (rest === half && bits & 1)) bits++;
  return sign | bits;
}

/** bfloat16 bits (the upper half of a float32) to a number. */
export function bfloat16ToNumber(bits: number): number {
  u32[0] = bits << 16;
  return f32[0];
}

/** A number to bfloat16 bits, rounded to nearest even. */
export function numberToBfloat16(value: number): number {
  f32[0] = value;
  const x = u32[0];
  if (Number.isNaN(value)) return ((x >>> 16) & 0x8000) | 0x7fc0;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * One tensor's raw contents as JSON elements (flat, row-major): the bytes must be exactly
 * what the shape and datatype need. INT64/UINT64 beyond 2^53 become ExactIntegers.
 */
export function decodeRaw(datatype: string, shape: number[], bytes: Buffer, path: string): unknown[] {
  const count = elementCount(shape, path);
  if (datatype === 'BYTES') return decodeRawBytes(bytes, count, path);
  const size = rawElementBytes(datatype, shape, bytes, path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const data = new Array<unknown>(count);
  for (let i = 0; i < count; i++) data[i] = readElement(view, datatype, i * size);
  return data;
}

/** The element size of `datatype`, once `bytes` are checked to be exactly what the shape needs (not BYTES). */
function rawElementBytes(datatype: string, shape: number[], bytes: Buffer, path: string): number {
  const count = elementCount(shape, path);
  // The same sizes as the binary extension's (inference_grpc.md, "Tensor Data").
  const size = (ELEMENT_BYTES as Record<string, number | undefined>)[datatype];
  if (size === undefined) throw new OipGrpcError(`${path}.datatype ${JSON.stringify(datatype)} is not an OIP datatype`);
  if (bytes.length !== count * size) {
    throw new OipGrpcError(`${path} (${datatype}, shape [${shape.join(', ')}]) needs ${count * size} bytes of raw contents; ${bytes.length} were sent`);
  }
  return size;
}

/** Checks raw contents as decodeRaw does, without decoding them into numbers (BYTES elements are read: their lengths must add up). */
function checkRaw(datatype: string, shape: number[], bytes: Buffer, path: string): void {
  if (datatype === 'BYTES') decodeRawBytes(bytes, elementCount(shape, path), path);
  else rawElementBytes(datatype, shape, bytes, path);
}

function readElement(view: DataView, datatype: string, at: number): unknown {
  switch (datatype) {
    case 'BOOL':
      return view.getUint8(at) !== 0;
    case 'UINT8':
      return view.getUint8(at);
    case 'INT8':
      return view.getInt8(at);
    case 'UINT16':
      return view.getUint16(at, true);
    case 'INT16':
      return view.getInt16(at, true);
    case 'FP16':
      return halfToNumber(view.getUint16(at, true));
    case 'BF16':
      return bfloat16ToNumber(view.getUint16(at, true));
    case 'UINT32':
      return view.getUint32(at, true);
    case 'INT32':
      return view.getInt32(at, true);
    case 'FP32':
      return view.getFloat32(at, true);
    case 'UINT64':
      return exact(view.getBigUint64(at, true));
    case 'INT64':
      return exact(view.getBigInt64(at, true));
    default:
      return view.getFloat64(at, true);
  }
}

function decodeRawBytes(bytes: Buffer, count: number, path: string): string[] {
  const data: string[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 4 > bytes.length) throw new OipGrpcError(`${path}: raw BYTES contents end inside an element's 4-byte length`);
    const length = bytes.readUInt32LE(at);
    if (at + 4 + length > bytes.length) throw new OipGrpcError(`${path}: raw BYTES element ${data.length} says ${length} bytes; fewer follow`);
    data.push(text(bytes.subarray(at + 4, at + 4 + length), `${path} element ${data.length}`));
    at += 4 + length;
  }
  if (data.length !== count) throw new OipGrpcError(`${path}: raw BYTES contents hold ${data.length} elements; the shape needs ${count}`);
  return data;
}

function text(bytes: Buffer, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new OipGrpcError(`${what} is not UTF-8 text (BYTES are carried as text)`);
  }
}

/** JSON elements (flat or nested) of one tensor as raw contents. */
export function encodeRaw(datatype: string, data: unknown[]): Buffer {
  const elements = data.flat(Infinity);
  if (datatype === 'BYTES') {
    const parts = elements.map((element) => Buffer.from(String(element), 'utf8'));
    const out = Buffer.allocUnsafe(parts.reduce((sum, part) => sum + 4 + part.length, 0));
    let at = 0;
    for (const part of parts) {
      out.writeUInt32LE(part.length, at);
      part.copy(out, at + 4);
      at += 4 + part.length;
    }
    return out;
  }
  const size = (ELEMENT_BYTES as Record<string, number | undefined>)[datatype];
  if (size === undefined) throw new OipGrpcError(`datatype ${JSON.stringify(datatype)} is not an OIP datatype`);
  const out = Buffer.alloc(elements.length * size);
  const view = new DataView(out.buffer, out.byteOffset, out.length);
  elements.forEach((element, i) => writeElement(view, datatype, i * size, element));
  return out;
}

function writeElement(view: DataView, datatype: string, at: number, element: unknown): void {
  const n = element as number;
  switch (datatype) {
    case 'BOOL':
      return view.setUint8(at, element ? 1 : 0);
    case 'UINT8':
      return view.setUint8(at, n);
    case 'INT8':
      return view.setInt8(at, n);
    case 'UINT16':
      return view.setUint16(at, n, true);
    case 'INT16':
      return view.setInt16(at, n, true);
    case 'FP16':
      return view.setUint16(at, numberToHalf(n), true);
    case 'BF16':
      return view.setUint16(at, numberToBfloat16(n), true);
    case 'UINT32':
      return view.setUint32(at, n, true);
    case 'INT32':
      return view.setInt32(at, n, true);
    case 'FP32':
      return view.setFloat32(at, n, true);
    case 'UINT64':
      return view.setBigUint64(at, asBigInt(element), true);
    case 'INT64':
      return view.setBigInt64(at, asBigInt(element), true);
    default:
      return view.setFloat64(at, n, true);
  }
}

/**
 * A tensor's typed contents as JSON elements: from the field of its datatype, every other
 * field empty. A datatype the spec does not know yields no elements (the request's
 * validation then names the datatype).
 */
export function decodeContents(datatype: string, contents: GrpcContents | null | undefined, path: string): unknown[] {
  if (RAW_ONLY.has(datatype)) throw new OipGrpcError(`${path} is ${datatype}, which the proto carries in raw contents only`);
  const field = CONTENTS_FIELD[datatype];
  const misplaced = CONTENTS_FIELDS.find((other) => other !== field && (contents?.[other]?.length ?? 0) > 0);
  if (misplaced) throw new OipGrpcError(`${path} is ${datatype}: its elements belong in contents.${field ?? '(none)'}, not contents.${misplaced}`);
  if (!field) return [];
  const values = (contents?.[field] ?? []) as unknown[];
  if (field === 'int64_contents' || field === 'uint64_contents') return values.map((value) => exact(value as Int64));
  if (field === 'bytes_contents') return values.map((value, i) => text(value as Buffer, `${path} element ${i}`));
  return values;
}

/** JSON elements (flat or nested) of one tensor as the typed contents of its datatype. */
export function encodeContents(datatype: string, data: unknown[]): GrpcContents {
  const field = CONTENTS_FIELD[datatype];
  if (!field) throw new OipGrpcError(`${datatype} tensors travel as raw contents only`);
  const elements = data.flat(Infinity);
  if (field === 'int64_contents' || field === 'uint64_contents') return { [field]: elements.map((element) => asBigInt(element).toString()) };
  if (field === 'bytes_contents') return { bytes_contents: elements.map((element) => Buffer.from(String(element), 'utf8')) };
  return { [field]: elements };
}

/** gRPC parameters as OIP's JSON parameters; 64-bit integers exact. */
export function parametersFromGrpc(parameters: GrpcParameters | undefined): Record<string, unknown> | undefined {
  const entries = Object.entries(parameters ?? {});
  if (!entries.length) return undefined;
  return Object.fromEntries(entries.map(([key, parameter]) => [key, parameterValue(parameter)]));
}

function parameterValue(parameter: GrpcParameter): unknown {
  switch (parameter.parameter_choice) {
    case 'bool_param':
      return parameter.bool_param;
    case 'int64_param':
      return exact(parameter.int64_param!);
    case 'uint64_param':
      return exact(parameter.uint64_param!);
    case 'double_param':
      return parameter.double_param;
    case 'string_param':
      return parameter.string_param;
    default:
      return null;
  }
}

const INT64_MAX = 2n ** 63n - 1n;

/**
 * OIP's JSON parameters as gRPC ones: an InferParameter holds a scalar, so an object,
 * array or null parameter travels as its JSON text (`string_param`).
 */
export function parametersToGrpc(parameters: Record<string, unknown> | undefined): GrpcParameters {
  return Object.fromEntries(Object.entries(parameters ?? {}).map(([key, value]) => [key, parameterOf(value)]));
}

function parameterOf(value: unknown): GrpcParameter {
  if (typeof value === 'boolean') return { bool_param: value };
  if (typeof value === 'string') return { string_param: value };
  if (typeof value === 'number') return Number.isSafeInteger(value) ? { int64_param: value } : { double_param: value };
  if (value instanceof ExactInteger) return BigInt(value.text) > INT64_MAX ? { uint64_param: value.text } : { int64_param: value.text };
  return { string_param: oipStringify(value) };
}

function tensorFromGrpc(tensor: GrpcTensor, data: unknown[]): OipTensor {
  const parameters = parametersFromGrpc(tensor.parameters);
  return { name: tensor.name, datatype: tensor.datatype, shape: shapeOf(tensor.shape), ...(parameters && { parameters }), data };
}

const hasContents = (tensor: GrpcTensor): boolean => CONTENTS_FIELDS.some((field) => (tensor.contents?.[field]?.length ?? 0) > 0);

/**
 * Tensors with typed or raw contents (never both, as the proto says) as JSON tensors; with
 * `keepRaw`, raw contents stay bytes, in the binary extension's form (OipWireTensor with
 * `parameters.binary_data_size`, their bytes one after the other in `binary`), checked
 * but not decoded into numbers.
 */
function tensorsFromGrpc(
  tensors: GrpcTensor[],
  raw: Buffer[] | undefined,
  key: 'inputs' | 'outputs',
  rawField: string,
  keepRaw: boolean,
): { tensors: OipTensor[]; binary?: Buffer } {
  if (!raw?.length) return { tensors: tensors.map((tensor, i) => tensorFromGrpc(tensor, decodeContents(tensor.datatype, tensor.contents, `${key}.${i}`))) };
  if (raw.length !== tensors.length) throw new OipGrpcError(`${rawField} has ${raw.length} entries; ${key} has ${tensors.length} tensors (one each, in order)`);
  const typed = tensors.findIndex(hasContents);
  if (typed >= 0) throw new OipGrpcError(`${key}.${typed} has contents while ${rawField} is set; use one or the other`);
  if (!keepRaw)
    return { tensors: tensors.map((tensor, i) => tensorFromGrpc(tensor, decodeRaw(tensor.datatype, shapeOf(tensor.shape), raw[i], `${key}.${i}`))) };
  const wire = tensors.map((tensor, i) => {
    const shape = shapeOf(tensor.shape);
    checkRaw(tensor.datatype, shape, raw[i], `${key}.${i}`);
    const parameters = { ...parametersFromGrpc(tensor.parameters), binary_data_size: raw[i].length };
    return { name: tensor.name, datatype: tensor.datatype, shape, parameters } as OipWireTensor as OipTensor;
  });
  return { tensors: wire, binary: Buffer.concat(raw) };
}

/** Whether tensors must travel as raw contents: one of them has no typed field (FP16, BF16). */
export const needsRaw = (tensors: { datatype: string }[]): boolean => tensors.some((tensor) => RAW_ONLY.has(tensor.datatype));

/**
 * Tensors as the proto carries them: all raw when `raw`, or when one has `bytes` (its
 * binary data, sent as it is), the others encoded; else typed contents.
 */
function tensorsToGrpc(tensors: OipWireTensor[], raw: boolean, bytes: readonly (Buffer | undefined)[] = []): { tensors: GrpcTensor[]; raw?: Buffer[] } {
  const meta = (tensor: OipWireTensor): GrpcTensor => {
    // The binary extension's size means nothing over gRPC, where raw contents carry their own length.
    const { binary_data_size: _size, ...parameters } = tensor.parameters ?? {};
    return {
      name: tensor.name,
      datatype: tensor.datatype,
      shape: tensor.shape,
      ...(Object.keys(parameters).length && { parameters: parametersToGrpc(parameters) }),
    };
  };
  if (raw || bytes.some(Boolean))
    return { tensors: tensors.map(meta), raw: tensors.map((tensor, i) => bytes[i] ?? encodeRaw(tensor.datatype, tensor.data ?? [])) };
  return { tensors: tensors.map((tensor) => ({ ...meta(tensor), contents: encodeContents(tensor.datatype, tensor.data ?? []) })) };
}

export interface GrpcInferCall {
  /** The model named, and its version (the proto's empty string is none). */
  model: string;
  version?: string;
  /** With `binary`, the inputs that came raw have `parameters.binary_data_size` and no `data`. */
  request: OipInferRequest;
  /** Whether the inputs came as raw contents: the answer's outputs then go back raw too. */
  raw: boolean;
  /** keepRaw: the raw inputs' bytes, one after the other (Triton's binary extension's layout). */
  binary?: Buffer;
}

/**
 * A ModelInferRequest as the OIP request it is; an OipGrpcError when its contents cannot
 * be read. With `keepRaw`, raw inputs stay bytes (`binary`), as the router forwards them.
 */
export function inferRequestFromGrpc(message: GrpcInferRequest, keepRaw = false): GrpcInferCall {
  const raw = (message.raw_input_contents?.length ?? 0) > 0;
  const parameters = parametersFromGrpc(message.parameters);
  const outputs: OipRequestedOutput[] | undefined = message.outputs?.length
    ? message.outputs.map((output) => {
        const own = parametersFromGrpc(output.parameters);
        return { name: output.name, ...(own && { parameters: own }) };
      })
    : undefined;
  const inputs = tensorsFromGrpc(message.inputs ?? [], message.raw_input_contents, 'inputs', 'raw_input_contents', keepRaw);
  const request: OipInferRequest = {
    ...(message.id && { id: message.id }),
    ...(parameters && { parameters }),
    inputs: inputs.tensors,
    ...(outputs && { outputs }),
  };
  return {
    model: message.model_name,
    ...(message.model_version && { version: message.model_version }),
    request,
    raw,
    ...(inputs.binary && { binary: inputs.binary }),
  };
}

/**
 * An OIP request as a ModelInferRequest: typed contents, or raw for all when one input has
 * no typed field (FP16, BF16) or has binary data in `binary` (the binary extension's
 * layout), which goes as raw contents as it is, never decoded.
 */
export function inferRequestToGrpc(model: string, version: string | undefined, request: OipInferRequest, binary?: Buffer): GrpcInferRequest {
  const inputs = request.inputs as OipWireTensor[];
  const { tensors, raw } = tensorsToGrpc(inputs, needsRaw(inputs), binary ? binarySlices(inputs, binary) : []);
  return {
    model_name: model,
    model_version: version ?? '',
    id: request.id ?? '',
    parameters: parametersToGrpc(request.parameters),
    inputs: tensors,
    outputs: (request.outputs ?? []).map((output) => ({ name: output.name, parameters: parametersToGrpc(output.parameters) })),
    ...(raw && { raw_input_contents: raw }),
  };
}

/** An OIP response as a ModelInferResponse, outputs raw when asked (`raw`) or when one has no typed field. */
export function inferResponseToGrpc(response: InferResponse, raw: boolean, chunks: readonly Buffer[] = []): GrpcInferResponse {
  // `chunks` are the bytes of the outputs with `binary_data_size`, in their order (clientOutputs).
  let next = 0;
  const bytes = chunks.length ? response.outputs.map((output) => (binaryDataSize(output) === undefined ? undefined : chunks[next++])) : [];
  const outputs = tensorsToGrpc(response.outputs, raw || needsRaw(response.outputs), bytes);
  return {
    model_name: response.model_name,
    model_version: response.model_version ?? '',
    id: response.id ?? '',
    parameters: parametersToGrpc(response.parameters),
    outputs: outputs.tensors,
    ...(outputs.raw && { raw_output_contents: outputs.raw }),
  };
}

/**
 * A ModelInferResponse as the OIP response it is; an OipGrpcError when its contents cannot
 * be read. With `keepRaw`, raw outputs stay bytes (`binary`, the binary extension's form),
 * so only an output someone reads is decoded.
 */
export function inferResponseFromGrpc(message: GrpcInferResponse, keepRaw = false): InferResponse & { binary?: Buffer } {
  const parameters = parametersFromGrpc(message.parameters);
  const outputs = tensorsFromGrpc(message.outputs ?? [], message.raw_output_contents, 'outputs', 'raw_output_contents', keepRaw);
  return {
    model_name: message.model_name,
    ...(message.model_version && { model_version: message.model_version }),
    ...(message.id && { id: message.id }),
    ...(parameters && { parameters }),
    outputs: outputs.tensors,
    ...(outputs.binary && { binary: outputs.binary }),
  };
}
