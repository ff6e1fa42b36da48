import { Producer } from 'kafkajs';
import { envelope, FeedbackEvent, FeedbackInput, JoinedEvent, PredictionEvent, Role } from '@switchyard/contracts';
import { joinedEventId } from '@switchyard/strategies';
import { HOSTILE_KEY } from './hostile';

export type PredictionFields = Pick<PredictionEvent, 'requestId' | 'deployment'> & Partial<PredictionEvent>;

/** A prediction event as the router publishes it: a served answer of a single-variant deployment unless `fields` say otherwise. */
export function predictionEvent(fields: PredictionFields): PredictionEvent {
  return { ...envelope('prediction'), variant: 'v1', role: 'served', strategy: 'single', specVersion: 1, probability: 1, latencyMs: 1, ...fields };
}

/** A feedback event as the router publishes it: `label` and `reward` are whatever the test sends, valid or not. */
export function feedbackEvent(fields: FeedbackInput): FeedbackEvent {
  return { ...envelope('feedback'), ...fields };
}

export interface JoinedFields {
  requestId: string;
  deployment: string;
  variant: string;
  role?: Role;
  specVersion?: number;
  reward: number;
  strategy?: JoinedEvent['strategy'];
  probability?: number;
  /** When the prediction and its feedback happened. @default now */
  at?: string;
}

/** A joined event as the joiner would publish it: deterministic eventId per (request, deployment, variant, role). */
export function joinedEvent({
  requestId,
  deployment,
  variant,
  role = 'served',
  specVersion = 1,
  reward,
  strategy = 'bandit',
  probability = 0.5,
  at = new Date().toISOString(),
}: JoinedFields): JoinedEvent {
  const pair = { requestId, deployment, variant, role };
  return {
    ...envelope('joined'),
    ...pair,
    eventId: joinedEventId(pair),
    strategy,
    specVersion,
    probability,
    outputs: [],
    latencyMs: 1,
    label: 1,
    reward,
    predictedAt: at,
    feedbackAt: at,
  };
}

/**
 * Sends events in one produce request, JSON keyed by requestId as the services publish them;
 * a string or bytes go as they are, under the key `poison` (what a consumer must reject).
 */
export async function sendEvents(producer: Producer, topic: string, events: ({ requestId: string } | string | Buffer)[]): Promise<void> {
  await producer.send({
    topic,
    messages: events.map((event) =>
      typeof event === 'string' || Buffer.isBuffer(event) ? { key: HOSTILE_KEY, value: event } : { key: event.requestId, value: JSON.stringify(event) },
    ),
  });
}
