import { envelope, JoinedEvent, Role } from '@switchyard/contracts';
import { joinedEventId } from '@switchyard/strategies';

export interface JoinedFields {
  requestId: string;
  deployment: string;
  variant: string;
  role?: Role;
  specVersion?: number;
  reward: number;
}

/** A joined event as the joiner would publish it: deterministic eventId per (request, deployment, variant, role). */
export function joinedEvent({ requestId, deployment, variant, role = 'served', specVersion = 1, reward }: JoinedFields): JoinedEvent {
  const pair = { requestId, deployment, variant, role };
  const now = new Date().toISOString();
  return {
    ...envelope('joined'),
    ...pair,
    eventId: joinedEventId(pair),
    strategy: 'bandit',
    specVersion,
    probability: 0.5,
    outputs: [],
    latencyMs: 1,
    label: 1,
    reward,
    predictedAt: now,
    feedbackAt: now,
  };
}
