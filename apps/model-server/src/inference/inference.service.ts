import { BadRequestException, Injectable, InternalServerErrorException, NotFoundException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { inferRequestProblems, InferResponse, OipInferRequest } from '@switchyard/contracts';
import {
  DEMO_MODELS,
  DemoModel,
  featuresFromInferInputs,
  featuresFromJsonInputs,
  findDemoModel,
  INPUT_METADATA,
  OUTPUT_METADATA,
  predict,
  toInferOutputs,
  toJsonOutputs,
} from '@switchyard/demo-models';
import { ModelServerEnv } from '../model-server.env';
import { inferenceMetrics, InferenceStatus } from './inference.metrics';

/** Every built-in model has one version. */
export const MODEL_VERSION = '1';
const PLATFORM = 'switchyard-demo';
const AVAILABLE = DEMO_MODELS.map((model) => model.name).join(', ');

/** How an inference came: OIP over REST (`v2`) or gRPC, or plain JSON. */
export type Protocol = 'v2' | 'grpc' | 'json';

export interface JsonInferResponse {
  outputs: { label: number | number[]; score: number | number[] };
}

/**
 * Serves the demo models: looks them up, checks inputs, waits the configured latency,
 * fails when told to, predicts. Deliberately logs nothing per request (hot path);
 * outcomes are counted in `switchyard_model_server_inferences_total`.
 */
@Injectable()
export class InferenceService {
  constructor(private readonly env: ModelServerEnv) {}

  serverMetadata() {
    return { name: 'switchyard-model-server', version: MODEL_VERSION, extensions: [] as string[] };
  }

  modelMetadata(name: string, version?: string) {
    const model = this.find(name, version);
    return {
      name: model.name,
      versions: [MODEL_VERSION],
      platform: PLATFORM,
      inputs: INPUT_METADATA,
      outputs: OUTPUT_METADATA,
      parameters: {
        description: model.description,
        accuracy: model.accuracy,
        latency_ms: model.latencyMs + this.env.MODEL_LATENCY_MS,
        ...(model.failure ? { always_fails: true } : {}),
      },
    };
  }

  modelReady(name: string, version?: string) {
    return { name: this.find(name, version).name, ready: true };
  }

  async inferV2(name: string, body: unknown, version?: string, protocol: Exclude<Protocol, 'json'> = 'v2'): Promise<InferResponse> {
    const model = this.found(name, protocol, version);
    const problems = inferRequestProblems(body);
    if (problems.length) throw this.invalid(model, protocol, `invalid inference request: ${problems.join('; ')}`);
    const request = body as OipInferRequest;
    let rows: number[][];
    let wanted: string[];
    try {
      rows = featuresFromInferInputs(request.inputs);
      wanted = requestedOutputs(request.outputs);
    } catch (error) {
      throw this.invalid(model, protocol, (error as Error).message);
    }
    await this.simulate(model, protocol);
    const all = toInferOutputs(rows.map((row) => predict(model, row)));
    inferenceMetrics.inferences.inc({ model: model.name, protocol, status: 'ok' });
    return {
      model_name: model.name,
      model_version: MODEL_VERSION,
      id: request.id ?? randomUUID(),
      outputs: wanted.length ? all.filter((tensor) => wanted.includes(tensor.name)) : all,
    };
  }

  async inferJson(name: string, body: unknown): Promise<JsonInferResponse> {
    const model = this.found(name, 'json');
    if (body === null || typeof body !== 'object' || Array.isArray(body) || !('inputs' in body)) {
      throw this.invalid(model, 'json', 'body must be a JSON object with "inputs"');
    }
    let parsed: ReturnType<typeof featuresFromJsonInputs>;
    try {
      parsed = isTensorList(body.inputs) ? fromTensors(body.inputs) : featuresFromJsonInputs(body.inputs);
    } catch (error) {
      throw this.invalid(model, 'json', (error as Error).message);
    }
    await this.simulate(model, 'json');
    const predictions = parsed.rows.map((row) => predict(model, row));
    inferenceMetrics.inferences.inc({ model: model.name, protocol: 'json', status: 'ok' });
    return { outputs: toJsonOutputs(predictions, parsed.batched) };
  }

  private find(name: string, version?: string): DemoModel {
    const model = findDemoModel(name);
    if (!model) throw new NotFoundException(`model ${JSON.stringify(name)} is not served here; available: ${AVAILABLE}`);
    if (version !== undefined && version !== MODEL_VERSION) {
      throw new NotFoundException(`model "${model.name}" has no version ${JSON.stringify(version)}; versions: ${MODEL_VERSION}`);
    }
    return model;
  }

  /** `find` for inference routes: also counts the miss. */
  private found(name: string, protocol: Protocol, version?: string): DemoModel {
    try {
      return this.find(name, version);
    } catch (error) {
      this.count(findDemoModel(name)?.name ?? 'unknown', protocol, 'unknown-model');
      throw error;
    }
  }

  private invalid(model: DemoModel, protocol: Protocol, message: string): BadRequestException {
    this.count(model.name, protocol, 'invalid');
    return new BadRequestException(message);
  }

  /** The test knobs: latency first (a failing model is slow too), then the failures. */
  private async simulate(model: DemoModel, protocol: Protocol): Promise<void> {
    const delay = model.latencyMs + this.env.MODEL_LATENCY_MS;
    if (delay > 0) await sleep(delay);
    if (model.failure) {
      this.count(model.name, protocol, 'failed');
      throw new InternalServerErrorException(model.failure);
    }
    if (this.env.MODEL_FAIL_RATE > 0 && Math.random() < this.env.MODEL_FAIL_RATE) {
      this.count(model.name, protocol, 'failed');
      throw new InternalServerErrorException(`simulated failure (MODEL_FAIL_RATE=${this.env.MODEL_FAIL_RATE})`);
    }
  }

  private count(model: string, protocol: Protocol, status: InferenceStatus): void {
    inferenceMetrics.inferences.inc({ model, protocol, status });
  }
}

const OUTPUT_NAMES = OUTPUT_METADATA.map((output) => output.name);

/** Names of the outputs an OIP request asks for (`[]`: all of them); throws on a name this model lacks. */
function requestedOutputs(requested: unknown[] | undefined): string[] {
  if (!requested?.length) return [];
  return requested.map((output) => {
    const name = (output as { name?: unknown } | null)?.name;
    if (typeof name !== 'string' || !OUTPUT_NAMES.includes(name)) {
      throw new Error(`requested output ${JSON.stringify(name ?? null)} does not exist; outputs: ${OUTPUT_NAMES.join(', ')}`);
    }
    return name;
  });
}

/** OIP tensors as json inputs: what the router sends a json variant for a `/v2` request. */
function isTensorList(inputs: unknown): inputs is unknown[] {
  return Array.isArray(inputs) && inputs.length > 0 && inputs.every((input) => input !== null && typeof input === 'object' && 'datatype' in input);
}

/** A batch when the features tensor has rows ([n, 4]), one row when it is [4]. */
function fromTensors(inputs: unknown[]): ReturnType<typeof featuresFromJsonInputs> {
  const rows = featuresFromInferInputs(inputs);
  const features = inputs.find((input) => (input as { name?: unknown }).name === 'features') as { shape: number[] };
  return { rows, batched: features.shape.length === 2 };
}
