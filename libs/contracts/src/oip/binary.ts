import { ExactInteger, oipStringify } from './json';
import { OipDatatype, OipRequestedOutput } from './rules';

/**
 * Triton's binary tensor data extension (libs/contracts/oip/spec/extension_binary_data.md):
 * a body is the JSON inference request or response, `Inference-Header-Content-Length`
 * bytes long, followed by the data of each tensor whose `parameters.binary_data_size` is
 * given, in the order of the tensors, little-endian, row-major, without padding; BYTES
 * elements are a 4-byte little-endian length and the bytes. Tensor bytes stay Buffers
 * (slices of the body they came in): only a tensor someone must read is decoded.
 */

/** The header that gives the JSON part's length in bytes. */
export const BINARY_HEADER = 'inference-header-content-length';
/** The name a server lists in its metadata's `extensions` when it serves the extension. */
export const BINARY_EXTENSION = 'binary_tensor_data';

/** A tensor as it travels: `data` in JSON, or `parameters.binary_data_size` bytes after the JSON. */
export interface OipWireTensor {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: Record<string, unknown>;
  data?: unknown[];
}

/** Bytes per element of each fixed-size datatype (BYTES has none: its elements carry their length). */
export const ELEMENT_BYTES: Record<Exclude<OipDatatype, 'BYTES'>, number> = {
  BOOL: 1,
  UINT8: 1,
  INT8: 1,
  UINT16: 2,
  INT16: 2,
  FP16: 2,
  BF16: 2,
  UINT32: 4,
  INT32: 4,
  FP32: 4,
  UINT64: 8,
  INT64: 8,
  FP64: 8,
};

/**
 * Bytes as they arrived, in chunks (a request body as the socket read it, or the one reused
 * buffer the router copied it into): forwarded as they are, joined only where one Buffer
 * must be read. Joining a megabyte into a fresh Buffer per request is external memory that
 * V8 answers with full collections of the heap (docs/benchmarks/2026-12-07-issue-27-binary-tensors.md).
 */
export type Chunks = readonly Buffer[];

export const chunksLength = (chunks: Chunks): number => chunks.reduce((sum, chunk) => sum + chunk.length, 0);

/** Bytes `start` to `end` of `chunks`: a view when one chunk holds them (no copy), else a copy of that range alone. */
export function bytesOf(chunks: Chunks, start = 0, end = chunksLength(chunks)): Buffer {
  const pieces: Buffer[] = [];
  let offset = 0;
  for (const chunk of chunks) {
    const from = Math.max(start - offset, 0);
    const to = Math.min(end - offset, chunk.length);
    if (from < to) pieces.push(chunk.subarray(from, to));
    offset += chunk.length;
    if (offset >= end) break;
  }
  return pieces.length === 1 ? pieces[0] : Buffer.concat(pieces, Math.max(end - start, 0));
}

/** The binary body's JSON part and the tensors' bytes after it (views of the body's chunks, not a copy). */
export function splitBinaryBody(body: Chunks, headerLength: string | string[] | undefined): { header: string; binary: Buffer[] } {
  const text = Array.isArray(headerLength) ? headerLength[0] : headerLength;
  if (text === undefined || !/^\d{1,15}$/.test(text.trim())) throw new Error(`${BINARY_HEADER} must be a number of bytes, got ${JSON.stringify(text)}`);
  const length = Number(text);
  if (length === 0) throw new Error(`a raw binary body (${BINARY_HEADER}: 0) is not supported: send the JSON inference header before the tensor data`);
  const total = chunksLength(body);
  if (length > total) throw new Error(`${BINARY_HEADER} is ${length}, but the body has ${total} bytes`);
  const binary: Buffer[] = [];
  let offset = 0;
  for (const chunk of body) {
    if (offset >= length) binary.push(chunk);
    else if (offset + chunk.length > length) binary.push(chunk.subarray(length - offset));
    offset += chunk.length;
  }
  return { header: bytesOf(body, 0, length).toString('utf8'), binary };
}

/**
 * A binary body: the header as JSON (64-bit integers exact), then the chunks; as its parts,
 * not one Buffer, so a megabyte of tensor bytes is written out without being copied first.
 */
export function binaryBody(header: unknown, chunks: readonly Buffer[]): { parts: Buffer[]; headerLength: number; length: number } {
  const json = Buffer.from(oipStringify(header));
  return { parts: [json, ...chunks], headerLength: json.length, length: chunks.reduce((sum, chunk) => sum + chunk.length, json.length) };
}

/** A tensor's `binary_data_size`, when it has one. */
export function binaryDataSize(tensor: unknown): unknown {
  return (tensor as { parameters?: Record<string, unknown> } | null)?.parameters?.binary_data_size;
}

const elementsOf = (shape: number[]) => shape.reduce((product, d) => product * d, 1);

/**
 * What is wrong with the binary data of `tensors` (the request's inputs, a response's
 * outputs; each already a valid tensor but for its data): each size a byte count that
 * fits the tensor's shape and datatype (BYTES: length-prefixed elements that fill it
 * exactly), together exactly the bytes after the JSON. Empty when nothing.
 */
export function binaryDataProblems(tensors: readonly OipWireTensor[], binary: Chunks | undefined, path: string): string[] {
  const problems: string[] = [];
  const length = binary && chunksLength(binary);
  let offset = 0;
  tensors.forEach((tensor, i) => {
    const size = binaryDataSize(tensor);
    if (size === undefined) return;
    const at = `${path}.${i}`;
    if (!Array.isArray(tensor?.shape)) return problems.push(`${at}.shape must be an array`);
    if (!binary) return problems.push(`${at} has parameters.binary_data_size, but the body has no binary data (${BINARY_HEADER})`);
    if (!Number.isSafeInteger(size) || (size as number) < 0) return problems.push(`${at}.parameters.binary_data_size must be a non-negative integer`);
    const bytes = size as number;
    if (offset + bytes > length!) {
      problems.push(`${at}: binary_data_size ${bytes} runs past the end of the binary data (${length! - offset} bytes left)`);
      offset += bytes;
      return;
    }
    const elements = elementsOf(tensor.shape);
    const width = ELEMENT_BYTES[tensor.datatype as Exclude<OipDatatype, 'BYTES'>];
    if (width !== undefined && bytes !== elements * width) {
      problems.push(`${at}: binary_data_size is ${bytes}, but shape [${tensor.shape.join(', ')}] of ${tensor.datatype} needs ${elements * width} bytes`);
    } else if (tensor.datatype === 'BYTES') {
      const count = bytesElementCount(bytesOf(binary, offset, offset + bytes));
      if (count !== elements)
        problems.push(
          count === undefined
            ? `${at}: BYTES data is not a sequence of 4-byte lengths each followed by that many bytes`
            : `${at}: BYTES data holds ${count} elements; shape [${tensor.shape.join(', ')}] needs ${elements}`,
        );
    }
    offset += bytes;
  });
  if (binary && offset !== length && problems.length === 0)
    problems.push(`the binary data is ${length} bytes, but the ${path}' binary_data_size add up to ${offset}`);
  return problems;
}

/** Elements in BYTES binary data, or undefined when its length prefixes do not fill it exactly. */
function bytesElementCount(bytes: Buffer): number | undefined {
  let count = 0;
  for (let at = 0; at < bytes.length; count++) {
    if (at + 4 > bytes.length) return undefined;
    at += 4 + bytes.readUInt32LE(at);
    if (at > bytes.length) return undefined;
  }
  return count;
}

/** Each tensor's bytes (undefined for a JSON tensor), as views of `binary`; the sizes must have been checked (binaryDataProblems). */
export function binarySlices(tensors: readonly OipWireTensor[], binary: Buffer | undefined): (Buffer | undefined)[] {
  let offset = 0;
  return tensors.map((tensor) => {
    const size = binaryDataSize(tensor) as number | undefined;
    if (size === undefined || !binary) return undefined;
    offset += size;
    return binary.subarray(offset - size, offset);
  });
}

/**
 * The elements of one tensor's binary data, row-major and flat, as JSON carries them:
 * BOOL as booleans, BYTES as UTF-8 strings, INT64/UINT64 beyond 2^53 as ExactIntegers,
 * FP16 and BF16 as the numbers they are (each is exact in a double).
 */
export function decodeTensorData(datatype: string, bytes: Buffer): unknown[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = ELEMENT_BYTES[datatype as Exclude<OipDatatype, 'BYTES'>];
  if (datatype === 'BYTES') {
    const out: string[] = [];
    for (let at = 0; at + 4 <= bytes.length;) {
      const length = view.getUint32(at, true);
      out.push(bytes.toString('utf8', at + 4, at + 4 + length));
      at += 4 + length;
    }
    return out;
  }
  if (width === undefined) throw new Error(`unknown datatype ${datatype}`);
  const read = READERS[datatype as Exclude<OipDatatype, 'BYTES'>];
  const out = new Array<unknown>(Math.floor(bytes.length / width));
  for (let i = 0; i < out.length; i++) out[i] = read(view, i * width);
  return out;
}

const wide = (value: bigint) =>
  value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : new ExactInteger(value.toString());

const READERS: Record<Exclude<OipDatatype, 'BYTES'>, (view: DataView, at: number) => unknown> = {
  BOOL: (v, at) => v.getUint8(at) !== 0,
  UINT8: (v, at) => v.getUint8(at),
  INT8: (v, at) => v.getInt8(at),
  UINT16: (v, at) => v.getUint16(at, true),
  INT16: (v, at) => v.getInt16(at, true),
  UINT32: (v, at) => v.getUint32(at, true),
  INT32: (v, at) => v.getInt32(at, true),
  UINT64: (v, at) => wide(v.getBigUint64(at, true)),
  INT64: (v, at) => wide(v.getBigInt64(at, true)),
  FP32: (v, at) => v.getFloat32(at, true),
  FP64: (v, at) => v.getFloat64(at, true),
  FP16: (v, at) => halfToNumber(v.getUint16(at, true)),
  // bfloat16 is the upper half of an IEEE 754 binary32.
  BF16: (v, at) => new Float32Array(new Uint32Array([v.getUint16(at, true) << 16]).buffer)[0],
};

/** An IEEE 754 binary16 as a number: 1 sign bit, 5 exponent bits (bias 15), 10 fraction bits. */
function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** The tensor with its binary data decoded into `data`, and `binary_data_size` gone from its parameters. */
export function withDecodedData(tensor: OipWireTensor, bytes: Buffer): OipWireTensor {
  const { binary_data_size: _size, ...parameters } = tensor.parameters ?? {};
  return {
    name: tensor.name,
    shape: tensor.shape,
    datatype: tensor.datatype,
    ...(Object.keys(parameters).length && { parameters }),
    data: decodeTensorData(tensor.datatype, bytes),
  };
}

/** Every binary tensor decoded into JSON data (a json-protocol variant's inputs; an answer for a client that asked for none binary). */
export function decodeAll(tensors: readonly OipWireTensor[], binary: Buffer | undefined): OipWireTensor[] {
  if (!binary) return tensors as OipWireTensor[];
  const slices = binarySlices(tensors, binary);
  return tensors.map((tensor, i) => (slices[i] ? withDecodedData(tensor, slices[i]) : tensor));
}

/** Whether the request asks for output `name` as binary data: its own `binary_data`, else the request's `binary_data_output`. */
export function wantsBinary(request: { parameters?: Record<string, unknown>; outputs?: OipRequestedOutput[] }, name: string): boolean {
  const own = request.outputs?.find((output) => output.name === name)?.parameters?.binary_data;
  return (own ?? request.parameters?.binary_data_output) === true;
}

/**
 * A model's outputs as the client asked for them: `drop` left out (an output the router
 * added for the reward), each binary output kept binary if the client wants it so
 * (`binaryFor`: wantsBinary over REST; every one for a gRPC client that sent raw contents)
 * and decoded into JSON if not; an output the model gave as JSON stays JSON (tritonclient
 * reads either). `chunks` are the bytes to send after the JSON, in the outputs' order.
 */
export function clientOutputs(
  outputs: readonly OipWireTensor[],
  binary: Buffer | undefined,
  binaryFor: (name: string) => boolean,
  drop?: string,
): { outputs: OipWireTensor[]; chunks: Buffer[] } {
  const slices = binarySlices(outputs, binary);
  const kept: OipWireTensor[] = [];
  const chunks: Buffer[] = [];
  outputs.forEach((tensor, i) => {
    if (tensor.name === drop) return;
    const bytes = slices[i];
    if (!bytes) kept.push(tensor);
    else if (binaryFor(tensor.name)) {
      kept.push(tensor);
      chunks.push(bytes);
    } else kept.push(withDecodedData(tensor, bytes));
  });
  return { outputs: kept, chunks };
}
