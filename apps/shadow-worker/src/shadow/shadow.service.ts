import { Injectable } from '@nestjs/common';
import {
  DeploymentSpec,
  eventOutputs,
  PredictionEvent,
  predictionEvent,
  PredictionFields,
  reviveExactIntegers,
  scoredOutput,
  ShadowRequestEvent,
} from '@switchyard/contracts';
import { ModelClient, ModelError, UrlAllowlist } from '@switchyard/model-client';
import { SpecVersions } from '@switchyard/store';
import { outputsAgree } from '@switchyard/strategies';
import { ShadowWorkerEnv } from '../shadow-worker.env';
import { Limiter } from './limiter';
import { shadowMetrics } from './shadow.metrics';

/**
 * Calls the shadow variants of mirrored requests. One limiter for the whole process,
 * so a batch full of requests never opens more than SHADOW_CONCURRENCY model calls;
 * each call is bounded by its variant's timeout, so a slow shadow holds one slot only.
 * Never throws for a model: a failure is a prediction event with `error`.
 */
@Injectable()
export class ShadowService {
  private readonly limiter: Limiter;

  constructor(
    private readonly models: ModelClient,
    private readonly specs: SpecVersions,
    private readonly allowlist: UrlAllowlist,
    env: ShadowWorkerEnv,
  ) {
    this.limiter = new Limiter(env.SHADOW_CONCURRENCY);
  }

  /** One prediction event per shadow of each request; `onSettled` runs after each call (heartbeats). */
  async run(requests: ShadowRequestEvent[], onSettled: () => void = () => undefined): Promise<PredictionEvent[]> {
    const specs = await this.specsOf(requests);
    const calls = requests.flatMap((request) => {
      const spec = specs.get(`${request.deployment}@${request.specVersion}`) ?? null;
      return request.shadows.map((shadow) => this.limiter.run(() => this.call(request, spec, shadow)).finally(onSettled));
    });
    return Promise.all(calls);
  }

  // Redis errors propagate: the batch is then retried rather than answered with errors.
  private async specsOf(requests: ShadowRequestEvent[]): Promise<Map<string, DeploymentSpec | null>> {
    const wanted = [...new Map(requests.map((r) => [`${r.deployment}@${r.specVersion}`, r])).entries()];
    const specs = await Promise.all(wanted.map(([, r]) => this.specs.get(r.deployment, r.specVersion)));
    return new Map(wanted.map(([key], i) => [key, specs[i]]));
  }

  private async call(request: ShadowRequestEvent, spec: DeploymentSpec | null, shadow: string): Promise<PredictionEvent> {
    const variant = spec?.variants.find((v) => v.name === shadow);
    const refused = variant && this.allowlist.problem(variant.url);
    const started = performance.now();
    let event: PredictionEvent;
    if (!spec) event = this.event(request, shadow, { error: `spec-missing: deployment "${request.deployment}" has no spec version ${request.specVersion}` });
    else if (!variant)
      event = this.event(request, shadow, { error: `unknown-variant: spec version ${spec.version} of "${spec.name}" has no variant "${shadow}"` });
    // Checked before every call, as the router does: a spec written straight to the spec log reaches the registry past PUT's check.
    else if (refused) event = this.event(request, shadow, { error: `refused: ${refused}` });
    else {
      try {
        // The request as the primary got it: inputs (64-bit integers exact, binary data as it came), parameters, requested outputs.
        const binary = request.binaryInputs === undefined ? undefined : [Buffer.from(request.binaryInputs, 'base64')];
        const answer = await this.models.infer(variant, reviveExactIntegers(request.inputs), request.requestId, {
          ...request.extras,
          ...(binary && { binary }),
        });
        shadowMetrics.latency.observe({ deployment: request.deployment, variant: shadow }, answer.latencyMs / 1000);
        // In the form the primary's outputs have in its event, so binary outputs compare alike (the scored one decoded, others by digest).
        const outputs = eventOutputs(answer.outputs, answer.binary, scoredOutput(spec.reward.outputPath));
        const agrees = request.primaryOutputs === undefined ? undefined : outputsAgree(request.primaryOutputs, outputs, spec.reward.outputPath);
        if (agrees !== undefined) shadowMetrics.agreement.inc({ deployment: request.deployment, variant: shadow, agree: String(agrees) });
        event = this.event(request, shadow, { outputs, latencyMs: answer.latencyMs, agreesWithPrimary: agrees });
      } catch (error) {
        const failure = ModelError.of(error);
        event = this.event(request, shadow, { error: `${failure.kind}: ${failure.message}`, latencyMs: performance.now() - started });
      }
    }
    shadowMetrics.predictions.inc({ deployment: request.deployment, variant: shadow, outcome: event.error ? 'error' : 'ok' });
    return event;
  }

  private event(
    request: ShadowRequestEvent,
    variant: string,
    result: Partial<Pick<PredictionFields, 'outputs' | 'latencyMs' | 'error' | 'agreesWithPrimary'>>,
  ): PredictionEvent {
    return predictionEvent({
      ...result,
      requestId: request.requestId,
      deployment: request.deployment,
      variant,
      role: 'shadow',
      strategy: 'shadow',
      specVersion: request.specVersion,
      probability: 1,
      latencyMs: result.latencyMs ?? 0,
      // Under the served prediction's step: its reward counts, and pairs, under the same split key.
      step: request.step,
    });
  }
}
