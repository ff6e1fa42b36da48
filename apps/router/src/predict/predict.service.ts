import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import {
  bytesOf,
  chunksLength,
  decodeAll,
  DeploymentSpec,
  envelope,
  eventJson,
  eventOutputs,
  feedbackToken,
  MAX_EVENT_BYTES,
  OipWireTensor,
  predictionEvent,
  PredictResponse,
  scoredOutput,
  ShadowRequestEvent,
  StoredVariant,
} from '@switchyard/contracts';
import { KafkaClient } from '@switchyard/messaging';
import { InferExtras, ModelAnswer, ModelClient, ModelError, UrlAllowlist } from '@switchyard/model-client';
import { contextualDraw, Selection, selectVariant } from '@switchyard/strategies';
import { DeploymentCache } from '../deployments/deployment.cache';
import { deploymentNotFound, Failure, Outcome, success } from '../outcome';
import { RouterEnv } from '../router.env';
import { routerMetrics } from '../router.metrics';
import { ArmWeights } from './arm-weights';
import { RequestIds } from './request-ids';

export interface PredictCommand {
  inputs: unknown;
  /** What a contextual bandit may read features from besides the inputs; never sent to the model. */
  context?: Record<string, unknown>;
  unitKey?: string;
  requestId?: string;
  extras?: InferExtras;
  /**
   * A variant the client named (OIP `/versions/{v}/infer`): it answers, without fallback,
   * and nothing is recorded, since the strategy did not choose it (its statistics and
   * off-policy estimates cover the strategy's choices only).
   */
  pinned?: string;
  /** A Kafka record delivered again carries its id again by design: not a second request. */
  repeatsAllowed?: boolean;
}

/**
 * Largest binary input data a shadow request carries (base64 in the event, 4/3 of it):
 * the event must stay under Kafka's 1 MiB record limit. Larger requests are not mirrored
 * (`switchyard_router_shadows_skipped_total`).
 */
export const MAX_MIRRORED_BINARY_BYTES = 512 * 1024;

interface Served {
  variant: StoredVariant;
  answer?: ModelAnswer;
  error?: ModelError;
  fallbackFrom?: string;
}

/**
 * One prediction: pick a variant by the deployment's strategy, call it (falling back to
 * the primary or best arm when a canary or bandit arm fails), and publish what happened.
 */
@Injectable()
export class PredictService {
  private readonly logger = new Logger(PredictService.name);
  private readonly publishMode: RouterEnv['PUBLISH_MODE'];
  private readonly tokenSecret: string | undefined;
  private readonly refusals = new Map<string, string | undefined>();

  constructor(
    private readonly cache: DeploymentCache,
    private readonly weights: ArmWeights,
    private readonly models: ModelClient,
    private readonly kafka: KafkaClient,
    private readonly requestIds: RequestIds,
    private readonly allowlist: UrlAllowlist,
    env: RouterEnv,
  ) {
    this.publishMode = env.PUBLISH_MODE;
    this.tokenSecret = env.FEEDBACK_TOKEN_SECRET;
  }

  async predict(name: string, command: PredictCommand): Promise<Outcome<PredictResponse>> {
    const spec = this.cache.get(name);
    if (!spec) return deploymentNotFound(name);
    if (spec.feedback?.requireToken && !this.tokenSecret) return NO_TOKEN_SECRET;
    const requestId = command.requestId ?? randomUUID();
    if (command.pinned !== undefined) return this.answer(spec, await this.call(spec, variantOf(spec, command.pinned), command, requestId), requestId, command);
    const unitKey = command.unitKey ?? requestId;
    const stored = this.weights.get(spec);
    // A contextual bandit draws with the shares its models give this request's context.
    const drawn = contextualDraw(spec.strategy, command, stored?.models, { rng: Math.random, vetoed: spec.status?.vetoed });
    const choice = selectVariant(spec, { unitKey, rng: Math.random, weights: drawn.weights ?? stored?.weights });

    // Claimed while the model answers, so the uniqueness check adds no wait of its own.
    const claimed = command.requestId === undefined || command.repeatsAllowed ? true : this.requestIds.claim(spec.name, requestId);
    const served = await this.serve(spec, choice.variant, choice.fallback, command, requestId);
    if (!(await claimed)) return requestIdTaken(requestId, spec.name);
    // Inputs every arm tried rejected are the client's mistake, not a variant's: no event, so
    // no arm's report counts it (a canary fed bad inputs must not be rolled back for them).
    const clientError = !served.answer && served.error!.kind === 'rejected';
    if (this.publishMode !== 'off' && !clientError) {
      const recorded = this.record(spec, served, choice, requestId, command, stored?.version, drawn.x);
      if (this.publishMode === 'durable') {
        try {
          await recorded;
        } catch {
          await this.giveBack(spec.name, command);
          return NOT_RECORDED;
        }
      } else recorded.catch(() => undefined);
    }
    if (clientError) await this.giveBack(spec.name, command);

    return this.answer(spec, served, requestId, command);
  }

  private answer(spec: DeploymentSpec, served: Served, requestId: string, command: PredictCommand): Outcome<PredictResponse> {
    const outcome = served.answer ? 'ok' : served.error!.kind === 'rejected' ? 'rejected' : 'error';
    routerMetrics.predictions.inc({ deployment: spec.name, variant: served.variant.name, outcome });
    if (!served.answer) return modelFailure(served.error!, served.variant.name);
    const { outputs, parameters, binary } = served.answer;
    // A pinned call records no prediction, so there is nothing for a token to let its holder label.
    const token =
      spec.feedback?.requireToken && command.pinned === undefined
        ? { feedbackToken: feedbackToken(this.tokenSecret!, { requestId, deployment: spec.name, variant: served.variant.name, specVersion: spec.version }) }
        : undefined;
    // Binary outputs go back binary only on the OIP route (the one whose requests carry `extras`, and may ask for them); elsewhere they are JSON.
    if (binary && !command.extras)
      return success({
        requestId,
        deployment: spec.name,
        variant: served.variant.name,
        outputs: decodeAll(outputs as OipWireTensor[], binary),
        ...(parameters && { parameters }),
        ...token,
      });
    return success({
      requestId,
      deployment: spec.name,
      variant: served.variant.name,
      outputs,
      ...(parameters && { parameters }),
      ...(binary && { binary }),
      ...token,
    });
  }

  /** A request that left no prediction frees its client id: the client may send it again. */
  private async giveBack(deployment: string, command: PredictCommand): Promise<void> {
    if (command.requestId !== undefined && !command.repeatsAllowed) await this.requestIds.release(deployment, command.requestId);
  }

  /**
   * Errors go to whoever caused them. A chosen arm that fails in any way (timeout, 5xx,
   * 4xx, a model it does not serve) is answered for by the fallback (the canary's primary,
   * a bandit's best other arm); its failure counts against it (`fallbackFrom`) only when
   * the fallback answered, since only then was it the arm's failure and not the request's.
   * When the fallback failed too, the event is the fallback's own answer.
   */
  private async serve(spec: DeploymentSpec, chosen: string, fallback: string | undefined, command: PredictCommand, requestId: string): Promise<Served> {
    const first = await this.call(spec, variantOf(spec, chosen), command, requestId);
    if (first.answer || !fallback) return first;
    const second = await this.call(spec, variantOf(spec, fallback), command, requestId);
    routerMetrics.fallbacks.inc({ deployment: spec.name, from: chosen, to: fallback });
    return second.answer ? { ...second, fallbackFrom: chosen } : second;
  }

  private async call(spec: DeploymentSpec, variant: StoredVariant, command: PredictCommand, requestId: string): Promise<Served> {
    const refused = this.refusal(variant.url);
    if (refused !== undefined) {
      routerMetrics.refusedCalls.inc({ deployment: spec.name, variant: variant.name });
      return { variant, error: new ModelError('unavailable', `variant URL refused: ${refused}`) };
    }
    try {
      const answer = await this.models.infer(variant, command.inputs, requestId, command.extras);
      routerMetrics.latency.observe({ deployment: spec.name, variant: variant.name }, answer.latencyMs / 1000);
      return { variant, answer };
    } catch (error) {
      const failure = ModelError.of(error);
      routerMetrics.modelErrors.inc({ deployment: spec.name, variant: variant.name, kind: failure.kind });
      return { variant, error: failure };
    }
  }

  /**
   * The allowlist again before every call, whatever let the spec in (a record written
   * straight to the spec log, an allowlist narrowed since): the router calls no host it
   * refuses. Memoised per URL, so a call costs a map lookup.
   */
  private refusal(url: string): string | undefined {
    if (!this.refusals.has(url)) {
      // URLs come from specs, a few per deployment; the bound only guards against churn.
      if (this.refusals.size >= 1024) this.refusals.clear();
      const problem = this.allowlist.problem(url);
      this.refusals.set(url, problem);
      if (problem !== undefined) this.logger.warn({ problem }, 'a variant URL outside the allowlist is in a spec; its calls are refused');
    }
    return this.refusals.get(url);
  }

  /** Publishes the prediction event (the promise of its ack) and, for shadows (a paired canary's primary too), the mirrored request. */
  private record(
    spec: DeploymentSpec,
    served: Served,
    choice: Selection,
    requestId: string,
    command: PredictCommand,
    weightsVersion?: number,
    context?: number[],
  ): Promise<void> {
    // `probability` is always that of the strategy's choice, even when another variant
    // answered for it (`fallbackFrom` then names the choice): the served variant's own
    // chance of answering depends on the other arms' failure rates, which nobody knows.
    // Off-policy evaluation and the bandit statistics leave fallback answers out
    // (libs/strategies ope.ts: exclusionOf, countsInArmStatistics).
    const answer = served.answer;
    const outputs = answer && eventOutputs(answer.outputs, answer.binary, scoredOutput(spec.reward.outputPath));
    const event = predictionEvent({
      requestId,
      deployment: spec.name,
      variant: served.variant.name,
      role: 'served',
      strategy: spec.strategy.type,
      specVersion: spec.version,
      probability: choice.probability,
      outputs,
      latencyMs: served.answer?.latencyMs ?? 0,
      error: served.error && `${served.error.kind}: ${served.error.message}`,
      fallbackFrom: served.fallbackFrom,
      unitKey: command.unitKey,
      weightsVersion,
      step: spec.status?.step,
      context,
    });
    const { json, trimmed } = eventJson(event);
    if (trimmed) routerMetrics.eventsTrimmed.inc({ deployment: spec.name });
    const published = this.publish(this.kafka.topics.predictions, requestId, json);
    const { binary, ...extras } = command.extras ?? {};
    // A paired canary's primary that answered for its failed canary has answered already.
    const shadows = choice.shadows.filter((shadow) => shadow !== served.variant.name);
    if (shadows.length && served.answer && binary && chunksLength(binary) > MAX_MIRRORED_BINARY_BYTES) {
      routerMetrics.shadowsSkipped.inc({ deployment: spec.name, reason: 'binary-too-large' });
    } else if (shadows.length && served.answer) {
      const shadowRequest: ShadowRequestEvent = {
        ...envelope('shadowRequest'),
        requestId,
        deployment: spec.name,
        specVersion: spec.version,
        inputs: command.inputs,
        ...(binary && { binaryInputs: bytesOf(binary).toString('base64') }),
        primaryOutputs: outputs,
        ...(command.extras && { extras }),
        shadows,
        ...(spec.status?.step !== undefined && { step: spec.status.step }),
      };
      const text = JSON.stringify(shadowRequest);
      // Never awaited: mirroring must not add a wait to the consumer's path.
      if (Buffer.byteLength(text) > MAX_EVENT_BYTES) routerMetrics.shadowsSkipped.inc({ deployment: spec.name, reason: 'event-too-large' });
      else void this.publish(this.kafka.topics.shadowRequests, requestId, text).catch(() => undefined);
    }
    return published;
  }

  /** Publishes an event already written as JSON (its size was checked on that text). */
  private publish(topic: string, key: string, json: string): Promise<void> {
    return this.kafka.publish(topic, [{ key, value: json }]).catch((error: Error) => {
      routerMetrics.publishFailures.inc({ topic });
      this.logger.error({ topic, key, error: error.message }, 'could not publish event');
      throw error;
    });
  }
}

function variantOf(spec: DeploymentSpec, name: string): StoredVariant {
  const variant = spec.variants.find((v) => v.name === name);
  if (!variant) throw new Error(`strategy chose unknown variant ${name}`);
  return variant;
}

const NO_TOKEN_SECRET: Failure = {
  ok: false,
  error: 'unavailable',
  message: 'this deployment requires feedback tokens and this router has no FEEDBACK_TOKEN_SECRET to sign them with',
};

const requestIdTaken = (requestId: string, deployment: string): Failure => ({
  ok: false,
  error: 'duplicate-request',
  message: `requestId "${requestId}" was already used for deployment "${deployment}"; send each prediction with its own id`,
});

const NOT_RECORDED: Failure = { ok: false, error: 'unavailable', message: 'the prediction could not be recorded in Kafka; retry later' };

/**
 * A rejection is the client's 4xx, with the model's reason (bounded, `ModelError.detail`)
 * and its status when that speaks of the inputs (400, 413, 422); any other 4xx (401, 404:
 * how the router reaches the model) is a 422.
 */
function modelFailure(error: ModelError, variant: string): Failure {
  if (error.kind !== 'rejected') return { ok: false, error: 'model-failed', message: `variant "${variant}" failed: ${error.message}` };
  const detail = error.detail === undefined ? '' : `: ${error.detail}`;
  const status = error.status === 400 || error.status === 413 ? error.status : 422;
  return { ok: false, error: 'input-rejected', status, message: `variant "${variant}" rejected the inputs (${error.message})${detail}` };
}
