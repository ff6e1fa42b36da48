import * as grpc from '@grpc/grpc-js';
import { GrpcInferRequest, inferRequestFromGrpc, inferResponseToGrpc, OipInferRequest, OipTensor } from '@switchyard/contracts';
import { oipGrpcService } from '@switchyard/model-client';
import { OipValidators } from '../../libs/contracts/oip/validators';
import { StrictModel } from './oip-strict-server';

/** A model of the strict gRPC server: a StrictModel, and how it misbehaves when a test needs it to. */
export interface StrictGrpcModel extends StrictModel {
  /** Answers only after this long (a variant's timeout). */
  delayMs?: number;
  /** Fails every inference with INTERNAL (a model that is broken). */
  fails?: boolean;
}

export interface StrictGrpcCall {
  rpc: string;
  /** ModelInfer's request as OIP's JSON form, 64-bit integers exact; the name and version of the others. */
  request: unknown;
  /** Whether the inputs came as raw contents. */
  raw?: boolean;
  metadata: Record<string, unknown>;
}

export interface StrictGrpcServer {
  /** The variant URL that reaches it (`http://` is plaintext gRPC). */
  url: string;
  received: StrictGrpcCall[];
  /** Answers it gave that its own validators refused: a bug of this server, which the suite checks is empty. */
  ownProblems: string[];
  close: () => Promise<void>;
}

class Refusal extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A model server of the Open Inference Protocol's gRPC service, from the vendored proto
 * and its prose (libs/contracts/oip/spec/open_inference_grpc.proto, inference_grpc.md),
 * strict where they let a server be: every ModelInfer is read as the proto says (typed
 * contents in the datatype's own field, or raw contents for every input, never both, sized
 * exactly; FP16/BF16 raw only), checked against the REST spec's schema and prose rules in
 * its JSON form and against the model's metadata, and refused with INVALID_ARGUMENT and
 * the reason otherwise; an unknown model or version is NOT_FOUND. Outputs go back raw when
 * the inputs came raw, as Triton answers. Echo and count models, as the REST strict server.
 */
export async function startStrictGrpcServer(models: StrictGrpcModel[], validators = new OipValidators()): Promise<StrictGrpcServer> {
  const received: StrictGrpcCall[] = [];
  const ownProblems: string[] = [];
  const byName = new Map(models.map((model) => [model.name, model]));

  const find = (name: string, version: string): [StrictGrpcModel, string] => {
    const model = byName.get(name);
    if (!model) throw new Refusal(grpc.status.NOT_FOUND, `unknown model ${name}`);
    const chosen = version || model.versions[model.versions.length - 1];
    if (!model.versions.includes(chosen)) throw new Refusal(grpc.status.NOT_FOUND, `model ${name} has no version ${chosen}`);
    return [model, chosen];
  };

  const infer = async (message: GrpcInferRequest, record: StrictGrpcCall) => {
    let call: ReturnType<typeof inferRequestFromGrpc>;
    try {
      call = inferRequestFromGrpc(message);
    } catch (error) {
      throw new Refusal(grpc.status.INVALID_ARGUMENT, (error as Error).message);
    }
    record.request = call.request;
    record.raw = call.raw;
    const [model, version] = find(call.model, call.version ?? '');
    const problems = validators.problems('inference_request', call.request);
    if (problems.length) throw new Refusal(grpc.status.INVALID_ARGUMENT, problems.join('; '));
    if (model.delayMs) await new Promise((resolve) => setTimeout(resolve, model.delayMs));
    if (model.fails) throw new Refusal(grpc.status.INTERNAL, `model ${model.name} failed`);
    const request: OipInferRequest = call.request;
    const input = request.inputs.find((tensor) => tensor.name === model.input.name);
    if (!input || request.inputs.length !== 1) throw new Refusal(grpc.status.INVALID_ARGUMENT, `model ${model.name} takes one input, ${model.input.name}`);
    if (input.datatype !== model.input.datatype)
      throw new Refusal(grpc.status.INVALID_ARGUMENT, `input ${input.name} must be ${model.input.datatype}, not ${input.datatype}`);
    const fits = input.shape.length === model.input.shape.length && input.shape.every((d, i) => model.input.shape[i] === -1 || model.input.shape[i] === d);
    if (!fits)
      throw new Refusal(
        grpc.status.INVALID_ARGUMENT,
        `input ${input.name} has shape [${input.shape.join(', ')}]; the model takes [${model.input.shape.join(', ')}]`,
      );
    const wanted = request.outputs?.map((output) => output.name) ?? model.outputs;
    const unknown = wanted.filter((name) => !model.outputs.includes(name));
    if (unknown.length) throw new Refusal(grpc.status.INVALID_ARGUMENT, `model ${model.name} has no output ${unknown.join(', ')}`);
    const count = input.shape.reduce((product, d) => product * d, 1);
    const outputs: OipTensor[] = wanted.map((name) =>
      model.answer === 'count'
        ? { name, datatype: 'INT64', shape: [1], data: [count] }
        : { name, datatype: input.datatype, shape: input.shape, data: input.data },
    );
    const response = {
      model_name: model.name,
      model_version: version,
      ...(request.id !== undefined && { id: request.id }),
      parameters: { strict_version: version },
      outputs,
    };
    ownProblems.push(...validators.responseProblems(request, response).map((problem) => `ModelInfer: ${problem}`));
    return inferResponseToGrpc(response, call.raw);
  };

  const rpcs: Record<string, (request: any, record: StrictGrpcCall) => unknown> = {
    ServerLive: () => ({ live: true }),
    ServerReady: () => ({ ready: true }),
    ServerMetadata: () => ({ name: 'oip-strict-grpc', version: '1', extensions: [] }),
    ModelReady: ({ name, version }: { name: string; version: string }) => (find(name, version), { ready: true }),
    ModelMetadata: ({ name, version }: { name: string; version: string }) => {
      const [model] = find(name, version);
      const output = (out: string) => (model.answer === 'count' ? { name: out, datatype: 'INT64', shape: [1] } : { ...model.input, name: out });
      return { name: model.name, versions: model.versions, platform: 'oip-strict-grpc', inputs: [model.input], outputs: model.outputs.map(output) };
    },
    ModelInfer: infer,
  };

  const server = new grpc.Server();
  server.addService(
    oipGrpcService().service,
    Object.fromEntries(
      Object.entries(rpcs).map(([rpc, handle]) => [
        rpc,
        (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
          const record: StrictGrpcCall = { rpc, request: call.request, metadata: call.metadata.getMap() };
          received.push(record);
          Promise.resolve()
            .then(() => handle(call.request, record))
            .then(
              (answer) => callback(null, answer),
              (error: Error) => callback({ code: error instanceof Refusal ? error.code : grpc.status.INTERNAL, details: error.message }),
            );
        },
      ]),
    ),
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    ownProblems,
    close: async () => {
      server.forceShutdown();
    },
  };
}
