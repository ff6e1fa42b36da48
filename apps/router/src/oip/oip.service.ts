import { BadGatewayException, BadRequestException, HttpException, Injectable, NotFoundException, ServiceUnavailableException } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import {
  BINARY_EXTENSION,
  binaryDataProblems,
  clientOutputs,
  DeploymentSpec,
  InferResponse,
  inferRequestProblems,
  OipRequestLimits,
  isValidName,
  jsonOutputsAsTensors,
  OipInferRequest,
  OipRequestedOutput,
  OipTensor,
  OipWireTensor,
  REQUEST_ID_PATTERN,
  StoredVariant,
  wantsBinary,
} from '@switchyard/contracts';
import { ModelClient, ModelError } from '@switchyard/model-client';
import { HealthRegistry } from '@switchyard/runtime';
import { configuredShares, servingSpec } from '@switchyard/strategies';
import { DeploymentCache } from '../deployments/deployment.cache';
import { httpError } from '../http-errors';
import { routerMetrics } from '../router.metrics';
import { PredictService } from '../predict/predict.service';
import { BinaryBody } from './oip-http';
import { RouterEnv } from '../router.env';

/**
 * The router as an OIP server, as `GET /v2` says: `version` is the protocol's (the API
 * it serves), and its one extension Triton's binary tensor data (shared memory, the
 * other extensions: not served).
 */
export const SERVER_METADATA = { name: 'switchyard', version: '2', extensions: [BINARY_EXTENSION] };

/** OIP's `platform` of every deployment's model metadata: what serves it, whatever the variants run on. */
const PLATFORM = 'switchyard';

/** Longest unit key taken from `parameters.unitKey`, as `POST /v1/.../predict` takes it. */
const MAX_UNIT_KEY = 256;

export interface OipAnswer {
  body: InferResponse;
  requestId: string;
  /** Bytes of the binary outputs, to send after `body` in the binary extension's framing; empty: a JSON answer. */
  chunks: Buffer[];
}

/**
 * Each deployment served as an Open Inference Protocol model: its variants are the
 * model's versions (`model_version` names the variant that answered, so a client can
 * address it again at `/versions/{variant}`), its metadata and readiness come from the
 * serving variants' own, and inference goes through the deployment's strategy.
 */
@Injectable()
export class OipService {
  constructor(
    private readonly cache: DeploymentCache,
    private readonly models: ModelClient,
    private readonly predictions: PredictService,
    private readonly health: HealthRegistry,
    env: RouterEnv,
  ) {
    this.limits = { maxTensors: env.OIP_MAX_TENSORS, maxElements: env.OIP_MAX_ELEMENTS };
  }

  private readonly limits: OipRequestLimits;

  async serverReady(): Promise<{ ready: true }> {
    const report = await this.health.report();
    const failing = Object.entries(report.checks).filter(([, status]) => status !== 'ok');
    if (!report.ready) throw new ServiceUnavailableException(`not ready: ${failing.map(([name]) => name).join(', ')}`);
    return { ready: true };
  }

  /**
   * Model metadata: the deployment's name, its variants as versions, and the tensors of
   * the variant serving the largest share (or of `version`), as its model server gives them.
   */
  async metadata(name: string, version?: string): Promise<Record<string, unknown>> {
    const spec = this.deployment(name);
    const variant = version === undefined ? this.reference(spec) : this.version(spec, version);
    const own = variant.protocol === 'json' ? {} : await this.variantMetadata(variant);
    return {
      name: spec.name,
      versions: version === undefined ? spec.variants.map((v) => v.name) : [variant.name],
      platform: PLATFORM,
      ...(Array.isArray(own.inputs) && { inputs: own.inputs }),
      ...(Array.isArray(own.outputs) && { outputs: own.outputs }),
    };
  }

  /** Ready when every serving variant (or `version`) answers its own readiness check; 503 naming those that do not. */
  async ready(name: string, version?: string): Promise<{ name: string; ready: true }> {
    const spec = this.deployment(name);
    const variants = version === undefined ? this.serving(spec) : [this.version(spec, version)];
    const answers = await Promise.all(variants.map((variant) => this.models.ready(variant)));
    const notReady = variants.filter((_, i) => !answers[i]).map((variant) => variant.name);
    if (notReady.length) throw new ServiceUnavailableException(`model "${spec.name}" is not ready: variant ${notReady.join(', ')} is not`);
    return { name: spec.name, ready: true };
  }

  /**
   * An inference: `body` is the request's JSON, or a BinaryBody whose binary inputs go to
   * the variant as they came. `binaryOutputs`: every binary output the model gave stays
   * bytes in the answer (a gRPC client that sent raw contents gets raw contents back),
   * else as the request's binary extension parameters ask.
   */
  async infer(name: string, body: unknown, version?: string, binaryOutputs = false): Promise<OipAnswer> {
    try {
      return await this.inferBody(name, body, version, binaryOutputs);
    } finally {
      // Settled: every model call on these bytes is done (undici destroys a request it no longer
      // writes: answered early, or aborted at the deadline), and a mirrored shadow request
      // took its own base64 of them, so their buffer may take the next body.
      if (body instanceof BinaryBody) body.release();
    }
  }

  private async inferBody(name: string, body: unknown, version: string | undefined, binaryOutputs: boolean): Promise<OipAnswer> {
    const spec = this.deployment(name);
    if (version !== undefined) this.version(spec, version);
    const { request: json, binary } = body instanceof BinaryBody ? body : { request: body, binary: undefined };
    let problems = inferRequestProblems(json, this.limits);
    if (!problems.length) problems = binaryDataProblems((json as OipInferRequest).inputs, binary, 'inputs');
    if (problems.length) throw this.invalid(`invalid inference request: ${problems.join('; ')}`);
    const request = json as OipInferRequest;
    const unitKey = request.parameters?.unitKey;
    if (unitKey !== undefined && (typeof unitKey !== 'string' || !unitKey.length || unitKey.length > MAX_UNIT_KEY)) {
      throw this.invalid(`parameters.unitKey must be a string of 1-${MAX_UNIT_KEY} characters`);
    }
    const requestId = requestIdOf(request.id);
    // The binary extension's hints (`binary_data_output`, an output's `binary_data`) go to the model as the client sent them.
    const { parameters } = request;
    const { outputs, added } = withScoredTensor(request.outputs, spec.reward.outputPath);
    const outcome = await this.predictions.predict(spec.name, {
      inputs: request.inputs,
      requestId,
      unitKey,
      extras: { ...(parameters && { parameters }), ...(outputs && { outputs }), ...(binary && { binary }) },
      pinned: version,
    });
    if (!outcome.ok) throw outcome.error === 'input-rejected' ? new BadRequestException(outcome.message) : httpError(outcome);
    const answer = outcome.value;
    const { outputs: sent, chunks } = clientOutputs(
      this.tensors(spec, answer.variant, answer.outputs),
      answer.binary,
      (output) => binaryOutputs || wantsBinary(request, output),
      added,
    );
    return {
      requestId,
      chunks,
      body: {
        model_name: spec.name,
        model_version: answer.variant,
        id: request.id ?? requestId,
        ...((answer.parameters || answer.feedbackToken) && {
          parameters: { ...answer.parameters, ...(answer.feedbackToken && { feedbackToken: answer.feedbackToken }) },
        }),
        outputs: sent as OipTensor[],
      },
    };
  }

  private deployment(name: string): DeploymentSpec {
    // A name the deployment rules refuse (`Churn.V1` is a legal OIP model name) names no deployment: 404, as OIP servers answer.
    const spec = isValidName(name) ? this.cache.get(name) : undefined;
    if (!spec) throw new NotFoundException(`model ${JSON.stringify(name)} does not exist`);
    return spec;
  }

  private version(spec: DeploymentSpec, version: string): StoredVariant {
    const variant = spec.variants.find((v) => v.name === version);
    if (!variant) {
      throw new NotFoundException(`model "${spec.name}" has no version ${JSON.stringify(version)}; versions: ${spec.variants.map((v) => v.name).join(', ')}`);
    }
    return variant;
  }

  /** The variants that answer requests now (shadows do not; a bandit's arms all do). */
  private serving(spec: DeploymentSpec): StoredVariant[] {
    const shares = configuredShares(spec.strategy, spec.status);
    if (!shares) return servingSpec(spec).variants;
    return spec.variants.filter((v) => (shares[v.name] ?? 0) > 0);
  }

  /** The serving variant with the largest configured share (the first arm of a bandit), whose tensors the model metadata shows. */
  private reference(spec: DeploymentSpec): StoredVariant {
    const shares = configuredShares(spec.strategy, spec.status) ?? {};
    return this.serving(spec).reduce((best, v) => ((shares[v.name] ?? 0) > (shares[best.name] ?? 0) ? v : best));
  }

  private async variantMetadata(variant: StoredVariant): Promise<Record<string, unknown>> {
    try {
      return await this.models.metadata(variant);
    } catch (error) {
      throw new BadGatewayException(`variant "${variant.name}" gave no model metadata: ${ModelError.of(error).message}`);
    }
  }

  /** The answer's outputs as OIP tensors: a v2 variant's as they came, a json variant's converted. */
  private tensors(spec: DeploymentSpec, variantName: string, outputs: unknown): OipWireTensor[] {
    if (spec.variants.find((v) => v.name === variantName)?.protocol !== 'json') return outputs as OipWireTensor[];
    try {
      return jsonOutputsAsTensors(outputs);
    } catch (error) {
      throw new BadGatewayException(`variant "${variantName}" answered outputs that are not OIP tensors: ${(error as Error).message}`);
    }
  }

  private invalid(message: string): HttpException {
    routerMetrics.rejected.inc({ route: 'infer' });
    return new BadRequestException(message);
  }
}

/**
 * The outputs to ask the model for: the client's selection, plus the tensor the reward's
 * `outputPath` names (`label.data.0`) when the selection leaves it out, so the reward and
 * the shadows' agreement are computed on that tensor whatever the client asked for;
 * `added` names it, to leave it out of the client's answer. No selection: all outputs.
 */
export function withScoredTensor(
  requested: OipRequestedOutput[] | undefined,
  outputPath: string | undefined,
): { outputs?: OipRequestedOutput[]; added?: string } {
  const scored = outputPath?.split('.')[0];
  if (!requested?.length || !scored || /^\d+$/.test(scored) || requested.some((output) => output.name === scored)) return { outputs: requested };
  return { outputs: [...requested, { name: scored }], added: scored };
}

/**
 * The request id of an OIP request: its `id` when that is one (request ids become Kafka
 * keys and Redis key parts, so they are restricted), else `oip-` and the first 32 hex
 * digits of the id's SHA-256, so the same id always maps to the same request id (send
 * feedback under it); a new UUID-like id when the request has none.
 */
export function requestIdOf(id: string | undefined): string {
  if (id === undefined) return randomUUID();
  if (REQUEST_ID_PATTERN.test(id)) return id;
  return `oip-${createHash('sha256').update(id).digest('hex').slice(0, 32)}`;
}
