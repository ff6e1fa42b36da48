import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DeploymentSpec, envelope, predictionEvent, PredictResponse, ShadowRequestEvent, StoredVariant } from '@switchyard/contracts';
import { KafkaClient } from '@switchyard/messaging';
import { InferExtras, ModelAnswer, ModelClient, ModelError } from '@switchyard/model-client';
import { Selection, selectVariant } from '@switchyard/strategies';
import { DeploymentCache } from '../deployments/deployment.cache';
import { deploymentNotFound, Failure, Outcome, success } from '../outcome';
import { RouterEnv } from '../router.env';
import { routerMetrics } from '../router.metrics';
import { ArmWeights } from './arm-weights';

export interface PredictCommand {
  inputs: unknown;
  unitKey?: string;
  requestId?: string;
  extras?: InferExtras;
  /**
   * A variant the client named (OIP `/versions/{v}/infer`): it answers, without fallback,
   * and nothing is recorded, since the strategy did not choose it (its statistics and
   * off-policy estimates cover the strategy's choices only).
   */
  pinned?: string;
}

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

  constructor(
    private readonly cache: DeploymentCache,
    private readonly weights: ArmWeights,
    private readonly models: ModelClient,
    private readonly kafka: KafkaClient,
    env: RouterEnv,
  ) {
    this.publishMode = env.PUBLISH_MODE;
  }

  async predict(name: string, command: PredictCommand): Promise<Outcome<PredictResponse>> {
    const spec = this.cache.get(name);
    if (!spec) return deploymentNotFound(name);
    const requestId = command.requestId ?? randomUUID();
    if (command.pinned !== undefined) return this.answer(spec, await this.call(spec, variantOf(spec, command.pinned), command, requestId), requestId);
    const unitKey = command.unitKey ?? requestId;
    const stored = this.weights.get(spec);
    const choice = selectVariant(spec, { unitKey, rng: Math.random, weights: stored?.weights });

    const served = await this.serve(spec, choice.variant, choice.fallback, command, requestId);
    if (this.publishMode !== 'off') {
      const recorded = this.record(spec, served, choice, requestId, command, stored?.version);
      if (this.publishMode === 'durable') {
        try {
          await recorded;
        } catch {
          return NOT_RECORDED;
        }
      } else recorded.catch(() => undefined);
    }

    return this.answer(spec, served, requestId);
  }

  private answer(spec: DeploymentSpec, served: Served, requestId: string): Outcome<PredictResponse> {
    routerMetrics.predictions.inc({ deployment: spec.name, variant: served.variant.name, outcome: served.answer ? 'ok' : 'error' });
    if (!served.answer) return modelFailure(served.error!, served.variant.name);
    const { outputs, parameters } = served.answer;
    return success({ requestId, deployment: spec.name, variant: served.variant.name, outputs, ...(parameters && { parameters }) });
  }

  private async serve(spec: DeploymentSpec, chosen: string, fallback: string | undefined, command: PredictCommand, requestId: string): Promise<Served> {
    const first = await this.call(spec, variantOf(spec, chosen), command, requestId);
    if (first.answer || !fallback || !first.error?.retryable) return first;
    const second = await this.call(spec, variantOf(spec, fallback), command, requestId);
    routerMetrics.fallbacks.inc({ deployment: spec.name, from: chosen, to: fallback });
    return { ...second, fallbackFrom: chosen };
  }

  private async call(spec: DeploymentSpec, variant: StoredVariant, command: PredictCommand, requestId: string): Promise<Served> {
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

  /** Publishes the prediction event (the promise of its ack) and, for shadow deployments, the mirrored request. */
  private record(spec: DeploymentSpec, served: Served, choice: Selection, requestId: string, command: PredictCommand, weightsVersion?: number): Promise<void> {
    // `probability` is always that of the strategy's choice, even when another variant
    // answered for it (`fallbackFrom` then names the choice): the served variant's own
    // chance of answering depends on the other arms' failure rates, which nobody knows.
    // Off-policy evaluation and the bandit statistics leave fallback answers out
    // (libs/strategies ope.ts: exclusionOf, countsInArmStatistics).
    const event = predictionEvent({
      requestId,
      deployment: spec.name,
      variant: served.variant.name,
      role: 'served',
      strategy: spec.strategy.type,
      specVersion: spec.version,
      probability: choice.probability,
      outputs: served.answer?.outputs,
      latencyMs: served.answer?.latencyMs ?? 0,
      error: served.error && `${served.error.kind}: ${served.error.message}`,
      fallbackFrom: served.fallbackFrom,
      unitKey: command.unitKey,
      weightsVersion,
      step: spec.status?.step,
    });
    const published = this.publish(this.kafka.topics.predictions, requestId, event);
    if (choice.shadows.length && served.answer) {
      const shadowRequest: ShadowRequestEvent = {
        ...envelope('shadowRequest'),
        requestId,
        deployment: spec.name,
        specVersion: spec.version,
        inputs: command.inputs,
        primaryOutputs: served.answer.outputs,
        ...(command.extras && { extras: command.extras }),
        shadows: choice.shadows,
      };
      // Never awaited: mirroring must not add a wait to the consumer's path.
      void this.publish(this.kafka.topics.shadowRequests, requestId, shadowRequest).catch(() => undefined);
    }
    return published;
  }

  private publish(topic: string, key: string, event: object): Promise<void> {
    return this.kafka.publishJson(topic, key, event).catch((error: Error) => {
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

const NOT_RECORDED: Failure = { ok: false, error: 'unavailable', message: 'the prediction could not be recorded in Kafka; retry later' };

function modelFailure(error: ModelError, variant: string): Failure {
  return { ok: false, error: error.kind === 'rejected' ? 'input-rejected' : 'model-failed', message: `variant "${variant}" failed: ${error.message}` };
}
