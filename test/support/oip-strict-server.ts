import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { OipDatatype, OipInferRequest, OipTensor, oipParse, oipStringify } from '@switchyard/contracts';
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
  body?: unknown;
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
 */
export async function startStrictServer(models: StrictModel[], validators = new OipValidators()): Promise<StrictServer> {
  const received: StrictRequest[] = [];
  const ownProblems: string[] = [];
  const byName = new Map(models.map((model) => [model.name, model]));

  const route = (method: string, path: string, body: unknown): [string, unknown] => {
    if (method === 'GET' && (path === '/v2' || path === '/v2/')) return ['metadata_server_response', { name: 'oip-strict', version: '1', extensions: [] }];
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
      return ['inference_response', infer(model, version, body)];
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
    // No binary tensor extension here (GET /v2 lists no extensions): binary outputs cannot be given.
    if (request.parameters?.binary_data_output === true || request.outputs?.some((output) => output.parameters?.binary_data === true)) {
      throw new OipError(400, 'this server has no binary tensor extension; ask for JSON outputs');
    }
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
    const text = Buffer.concat(chunks).toString('utf8');
    const path = (req.url ?? '/').split('?')[0];
    const record: StrictRequest = { method: req.method ?? 'GET', url: req.url ?? '/', contentType: req.headers['content-type'] };
    received.push(record);
    let status = 200;
    let answer: unknown;
    let schema: string;
    try {
      if (text.length) {
        if (!/^application\/json\b/.test(record.contentType ?? '')) throw new OipError(415, 'a JSON body needs Content-Type: application/json');
        try {
          record.body = oipParse(text);
        } catch (error) {
          throw new OipError(400, (error as Error).message);
        }
      }
      [schema, answer] = route(record.method, path, record.body);
    } catch (error) {
      status = error instanceof OipError ? error.status : 500;
      schema = 'inference_error_response';
      answer = { error: (error as Error).message };
    }
    const own = validators.problems(schema as 'inference_response', answer);
    if (schema === 'inference_response') own.push(...validators.responseProblems(record.body as OipInferRequest, answer));
    ownProblems.push(...own.map((problem) => `${record.method} ${path}: ${problem}`));
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
