import { envelope } from './envelope';
import { EventEnvelope, PredictionEvent } from './events';

/** A prediction event's own fields; `latencyMs` is the raw measure, rounded by the builder. */
export type PredictionFields = Omit<PredictionEvent, keyof EventEnvelope>;

/**
 * The one way to build a prediction event, served (router) or shadow (shadow worker).
 * Optional fields that are undefined are left out rather than written as `undefined`, and
 * the fields keep one order, so every producer's events serialize alike.
 */
export function predictionEvent(fields: PredictionFields, now?: Date): PredictionEvent {
  // Assigned, not spread: conditional object spreads cost ~7 µs per request on the router (CPU profile).
  const event: PredictionEvent = Object.assign(envelope('prediction', now), {
    requestId: fields.requestId,
    deployment: fields.deployment,
    variant: fields.variant,
    role: fields.role,
    strategy: fields.strategy,
    specVersion: fields.specVersion,
    probability: fields.probability,
  }) as PredictionEvent;
  if (fields.outputs !== undefined) event.outputs = fields.outputs;
  event.latencyMs = Math.round(fields.latencyMs * 1000) / 1000;
  if (fields.error !== undefined) event.error = fields.error;
  if (fields.fallbackFrom !== undefined) event.fallbackFrom = fields.fallbackFrom;
  if (fields.unitKey !== undefined) event.unitKey = fields.unitKey;
  if (fields.agreesWithPrimary !== undefined) event.agreesWithPrimary = fields.agreesWithPrimary;
  if (fields.weightsVersion !== undefined) event.weightsVersion = fields.weightsVersion;
  if (fields.step !== undefined) event.step = fields.step;
  if (fields.context !== undefined) event.context = fields.context;
  return event;
}

/**
 * Largest event written, as JSON: Kafka refuses a record past its broker's
 * `message.max.bytes` (1 MiB by default), key, headers and batch overhead included.
 */
export const MAX_EVENT_BYTES = 1_000_000;

/**
 * A prediction event as the JSON text to publish: as it is when under MAX_EVENT_BYTES,
 * else without its outputs and with `outputsTrimmed` (`trimmed` then says so), so the
 * prediction is still recorded rather than refused by the broker.
 */
export function eventJson(event: PredictionEvent): { json: string; trimmed: boolean } {
  const json = JSON.stringify(event);
  if (Buffer.byteLength(json) <= MAX_EVENT_BYTES || event.outputs === undefined) return { json, trimmed: false };
  const { outputs: _outputs, ...rest } = event;
  return { json: JSON.stringify({ ...rest, outputsTrimmed: true }), trimmed: true };
}
