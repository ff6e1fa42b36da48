import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { ExactInteger, OipDatatype, OipInferRequest, OipTensor, oipParse, oipStringify } from '@switchyard/contracts';
import { OipValidators } from '../../libs/contracts/oip/validators';

/**
 * One model of the strict server: its metadata and what it answers. `echo`: each output
 * is the input as it came, under the output's name; `count`: each output is the number
 * of the input's elements (INT64 [1]), for inputs too large to send back.
 */
export interface StrictModel {
  name: string;
  versions: string[];
  input: { name: string; datatype: OipDatatype; shape: number[] };
  outputs: string[];
  answer?: 'echo' | 'count';
}

export interface StrictRequest {
  method: string;
  url: string;
  contentType?: string;
  /** The JSON body, or the binary extension's JSON header as it came (binary inputs with `binary_data_size`, no data). */
  body?: unknown;
  /** Binary extension: the bytes after the JSON header. */
  binary?: Buffer;
}

export interface StrictServer {
  url: string;
  /** Every request it got, body parsed exactly (64-bit integers as ExactInteger). */
  received: StrictRequest[];
  /** Answers it gave that its own validators refused: a bug of this server, which the suite checks is empty. */
  ownProblems: string[];
  close: () => Promise<void>;
}

class OipError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A model server written from the Open Inference Protocol's REST specification alone
 * (libs/contracts/oip/spec), strict where the spec lets a server be: every request body is
 * checked against the spec's schema and prose rules (OipValidators) and against the
 * model's metadata (input name, datatype, shape), and anything else is refused with the
 * spec's error body, `{"error": "…"}`. Its answers are checked by the same validators
 * before they leave (`ownProblems`). Health, server and model metadata, readiness, versions.
 *
 * Triton's binary tensor data extension (spec/extension_binary_data.md), written from that
 * text and apart from libs/contracts' own codec, so a mistake there shows here: a body with
 * Inference-Header-Content-Length is its JSON header and the inputs' bytes; each binary
 * input's size must fit its shape and datatype and the sizes fill the bytes exactly, else
 * 400; its bytes are decoded and the request checked as the JSON one it stands for. An
 * output asked for as binary (`binary_data`, else `binary_data_output`) is answered so.
 */
export async function startStrictServer(models: StrictModel[], validators = new OipValidators()): Promise<StrictServer> {
  const received: StrictRequest[] = [];
  const ownProblems: string[] = [];
  const byName = new Map(models.map((model) => [model.name, model]));

  const route = (method: string, path: string, body: unknown, binary?: Buffer): [string, unknown] => {
    if (method === 'GET' && (path === '/v2' || path === '/v2/'))
      return ['metadata_server_response', { name: 'oip-strict', version: '1', extensions: ['binary_tensor_data'] }];
    if (method === 'GET' && path === '/v2/health/live') return ['live_server_response', { live: true }];
    if (method === 'GET' && path === '/v2/health/ready') return ['ready_server_response', { ready: true }];
    const match = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer)?$/.exec(path);
    if (!match) throw new OipError(404, `no route ${method} ${path}`);
    const model = byName.get(decodeURIComponent(match[1]));
    if (!model) throw new OipError(404, `unknown model ${decodeURIComponent(match[1])}`);
    const version = match[2] === undefined ? model.versions[model.versions.length - 1] : decodeURIComponent(match[2]);
    if (!model.versions.includes(version)) throw new OipError(404, `model ${model.name} has no version ${version}`);
    const action = match[3] ?? '';
    if (action === '/infer') {
      if (method !== 'POST') throw new OipError(405, 'infer takes POST');
      return ['inference_response', infer(model, version, binary ? withBinaryInputs(body, binary) : body)];
    }
    if (method !== 'GET') throw new OipError(405, `${path} takes GET`);
    if (action === '/ready') return ['ready_model_response', { name: model.name, ready: true }];
    const output = (name: string) => (model.answer === 'count' ? { name, datatype: 'INT64', shape: [1] } : { ...model.input, name });
    return [
      'metadata_model_response',
      { name: model.name, versions: model.versions, platform: 'oip-strict', inputs: [model.input], outputs: model.outputs.map(output) },
    ];
  };

  const infer = (model: StrictModel, version: string, body: unknown) => {
    const problems = validators.problems('inference_request', body);
    if (problems.length) throw new OipError(400, problems.join('; '));
    const request = body as OipInferRequest;
    const input = request.inputs.find((tensor) => tensor.name === model.input.name);
    if (!input || request.inputs.length !== 1) throw new OipError(400, `model ${model.name} takes one input, ${model.input.name}`);
    if (input.datatype !== model.input.datatype) throw new OipError(400, `input ${input.name} must be ${model.input.datatype}, not ${input.datatype}`);
    const fits = input.shape.length === model.input.shape.length && input.shape.every((d, i) => model.input.shape[i] === -1 || model.input.shape[i] === d);
    if (!fits) throw new OipError(400, `input ${input.name} has shape [${input.shape.join(', ')}]; the model takes [${model.input.shape.join(', ')}]`);
    const wanted = request.outputs?.map((output) => output.name) ?? model.outputs;
    const unknown = wanted.filter((name) => !model.outputs.includes(name));
    if (unknown.length) throw new OipError(400, `model ${model.name} has no output ${unknown.join(', ')}`);
    const count = input.shape.reduce((product, d) => product * d, 1);
    const outputs: OipTensor[] = wanted.map((name) =>
      model.answer === 'count'
        ? { name, datatype: 'INT64', shape: [1], data: [count] }
        : { name, datatype: input.datatype, shape: input.shape, data: input.data },
    );
    return {
      model_name: model.name,
      model_version: version,
      ...(request.id !== undefined && { id: request.id }),
      parameters: { strict_version: version, ...(request.parameters && { request_parameters: request.parameters }) },
      outputs,
    };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const headerLength = req.headers['inference-header-content-length'] as string | undefined;
    let text = raw.toString('utf8');
    const path = (req.url ?? '/').split('?')[0];
    const record: StrictRequest = { method: req.method ?? 'GET', url: req.url ?? '/', contentType: req.headers['content-type'] };
    received.push(record);
    let status = 200;
    let answer: unknown;
    let schema: string;
    try {
      if (headerLength !== undefined) {
        const length = Number(headerLength);
        if (!/^\d+$/.test(headerLength) || length < 1 || length > raw.length) throw new OipError(400, `bad Inference-Header-Content-Length ${headerLength}`);
        text = raw.toString('utf8', 0, length);
        record.binary = raw.subarray(length);
      } else if (text.length && !/^application\/json\b/.test(record.contentType ?? ''))
        throw new OipError(415, 'a JSON body needs Content-Type: application/json');
      if (text.length) {
        try {
          record.body = oipParse(text);
        } catch (error) {
          throw new OipError(400, (error as Error).message);
        }
      }
      [schema, answer] = route(record.method, path, record.body, record.binary);
    } catch (error) {
      status = error instanceof OipError ? error.status : 500;
      schema = 'inference_error_response';
      answer = { error: (error as Error).message };
    }
    const own = validators.problems(schema as 'inference_response', answer);
    if (schema === 'inference_response') own.push(...validators.responseProblems(record.body as OipInferRequest, answer));
    ownProblems.push(...own.map((problem) => `${record.method} ${path}: ${problem}`));
    if (status === 200 && schema === 'inference_response') {
      const { header, bytes } = asBinaryOutputs(record.body as OipInferRequest, answer as { outputs: OipTensor[] });
      if (bytes.length) {
        const json = Buffer.from(oipStringify(header));
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(json.length) });
        return void res.end(Buffer.concat([json, ...bytes]));
      }
    }
    res.writeHead(status, { 'content-type': 'application/json' }).end(oipStringify(answer));
  };

  const server: Server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    ownProblems,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Bytes per element, from the spec's datatype table (BYTES: none, each element carries its length). */
const WIDTH: Record<string, number> = {
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

const count = (shape: number[]) => shape.reduce((product, d) => product * d, 1);
const exact = (value: bigint) =>
  value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : new ExactInteger(value.toString());

/** The request with each binary input's bytes read into `data` (sizes checked first: 400 when they do not add up). */
function withBinaryInputs(body: unknown, binary: Buffer): unknown {
  const request = body as { inputs?: { name?: string; shape?: number[]; datatype?: string; parameters?: Record<string, unknown> }[] };
  if (!Array.isArray(request?.inputs)) return body;
  let offset = 0;
  const inputs = request.inputs.map((input) => {
    const size = input?.parameters?.binary_data_size;
    if (size === undefined) return input;
    if (!Number.isInteger(size) || (size as number) < 0) throw new OipError(400, `input ${input.name}: binary_data_size must be a non-negative integer`);
    if ('data' in input) throw new OipError(400, `input ${input.name} has both data and binary_data_size`);
    const bytes = binary.subarray(offset, offset + (size as number));
    if (bytes.length !== size) throw new OipError(400, `input ${input.name}: binary_data_size ${String(size)} is past the end of the binary data`);
    offset += size as number;
    const { binary_data_size: _size, ...parameters } = input.parameters!;
    return { ...input, parameters, data: decode(input.datatype ?? '', input.shape ?? [], bytes, input.name ?? '') };
  });
  if (offset !== binary.length) throw new OipError(400, `binary data is ${binary.length} bytes; the inputs' binary_data_size add up to ${offset}`);
  return { ...request, inputs };
}

function decode(datatype: string, shape: number[], bytes: Buffer, name: string): unknown[] {
  const out: unknown[] = [];
  if (datatype === 'BYTES') {
    for (let at = 0; at < bytes.length;) {
      if (at + 4 > bytes.length || at + 4 + bytes.readUInt32LE(at) > bytes.length)
        throw new OipError(400, `input ${name}: BYTES element lengths overrun the data`);
      out.push(bytes.toString('utf8', at + 4, at + 4 + bytes.readUInt32LE(at)));
      at += 4 + bytes.readUInt32LE(at);
    }
    return out;
  }
  const width = WIDTH[datatype];
  if (width === undefined || bytes.length !== count(shape) * width)
    throw new OipError(400, `input ${name}: ${bytes.length} bytes do not hold shape [${shape.join(', ')}] of ${datatype}`);
  for (let at = 0; at < bytes.length; at += width) {
    switch (datatype) {
      case 'BOOL':
        if (bytes[at] > 1) throw new OipError(400, `input ${name}: a BOOL byte is 0 or 1`);
        out.push(bytes[at] === 1);
        break;
      case 'INT64':
        out.push(exact(bytes.readBigInt64LE(at)));
        break;
      case 'UINT64':
        out.push(exact(bytes.readBigUInt64LE(at)));
        break;
      case 'FP16': {
        const bits = bytes.readUInt16LE(at);
        const [sign, exponent, fraction] = [bits >> 15 ? -1 : 1, (bits >> 10) & 31, bits & 1023];
        out.push(
          exponent === 0
            ? sign * 2 ** -14 * (fraction / 1024)
            : exponent === 31
              ? fraction
                ? NaN
                : sign * Infinity
              : sign * 2 ** (exponent - 15) * (1 + fraction / 1024),
        );
        break;
      }
      case 'BF16': {
        const word = Buffer.alloc(4);
        word.writeUInt16LE(bytes.readUInt16LE(at), 2);
        out.push(word.readFloatLE(0));
        break;
      }
      default:
        out.push(
          {
            UINT8: () => bytes.readUInt8(at),
            INT8: () => bytes.readInt8(at),
            UINT16: () => bytes.readUInt16LE(at),
            INT16: () => bytes.readInt16LE(at),
            UINT32: () => bytes.readUInt32LE(at),
            INT32: () => bytes.readInt32LE(at),
            FP32: () => bytes.readFloatLE(at),
            FP64: () => bytes.readDoubleLE(at),
          }[datatype]!(),
        );
    }
  }
  return out;
}

function encode(datatype: string, data: unknown[]): Buffer {
  const values = data.flat(Infinity as 1) as unknown[];
  if (datatype === 'BYTES')
    return Buffer.concat(
      values.flatMap((value) => {
        const bytes = Buffer.from(String(value));
        const length = Buffer.alloc(4);
        length.writeUInt32LE(bytes.length);
        return [length, bytes];
      }),
    );
  const out = Buffer.alloc(values.length * WIDTH[datatype]);
  values.forEach((value, i) => {
    const at = i * WIDTH[datatype];
    const n = Number(value instanceof ExactInteger ? value.text : value);
    switch (datatype) {
      case 'BOOL':
        return out.writeUInt8(value ? 1 : 0, at);
      case 'INT64':
        return out.writeBigInt64LE(BigInt(value instanceof ExactInteger ? value.text : (value as number)), at);
      case 'UINT64':
        return out.writeBigUInt64LE(BigInt(value instanceof ExactInteger ? value.text : (value as number)), at);
      case 'FP16': {
        // Exact for the normal values the suite sends: 1.fraction × 2^exponent with 10 fraction bits.
        if (n === 0) return out.writeUInt16LE(0, at);
        const exponent = Math.floor(Math.log2(Math.abs(n)));
        return out.writeUInt16LE((n < 0 ? 0x8000 : 0) | ((exponent + 15) << 10) | Math.round((Math.abs(n) / 2 ** exponent - 1) * 1024), at);
      }
      case 'BF16': {
        const word = Buffer.alloc(4);
        word.writeFloatLE(n);
        return out.writeUInt16LE(word.readUInt16LE(2), at);
      }
      case 'FP32':
        return out.writeFloatLE(n, at);
      case 'FP64':
        return out.writeDoubleLE(n, at);
      case 'INT32':
        return out.writeInt32LE(n, at);
      default:
        throw new Error(`the strict server encodes no ${datatype}`);
    }
  });
  return out;
}

/** Each output the request asks for as binary (its `binary_data`, else the request's `binary_data_output`) moved out of the JSON into bytes. */
function asBinaryOutputs(request: OipInferRequest, answer: { outputs: OipTensor[] }): { header: unknown; bytes: Buffer[] } {
  const bytes: Buffer[] = [];
  const outputs = answer.outputs.map((output) => {
    const asked = request.outputs?.find((o) => o.name === output.name)?.parameters?.binary_data ?? request.parameters?.binary_data_output;
    if (asked !== true) return output;
    const encoded = encode(output.datatype, output.data);
    bytes.push(encoded);
    const { data: _data, ...rest } = output;
    return { ...rest, parameters: { ...output.parameters, binary_data_size: encoded.length } };
  });
  return { header: { ...answer, outputs }, bytes };
}
