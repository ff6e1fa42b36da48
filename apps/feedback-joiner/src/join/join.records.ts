import { FeedbackEvent, PredictionEvent } from '@switchyard/contracts';
import type { InboundMessage } from '@switchyard/messaging';
import type { FeedbackRecord, JoinTiming, PredictionRecord, ReportBatch } from '@switchyard/store';
import { pairField, recentCounts, reportCounts, StoredFeedback, type UnitCounting } from '@switchyard/strategies';

/** Where a Kafka message sits, which is all a record needs of it. */
type Coordinates = Pick<InboundMessage, 'topic' | 'partition' | 'offset'>;

/** Where a message sits in Kafka: the claim it makes on the pairs it completes. */
function tokenOf(message: Coordinates): string {
  return `${message.topic}:${message.partition}:${message.offset}`;
}

/** Margin between the end of the window (when the sweeper counts and removes) and the key's own expiry. */
export const EXPIRY_GRACE_SECONDS = 300;

/**
 * A record seen at `seenAtMs`: its request's first-seen time, and the TTL that ends its
 * state window + grace after it. The sweeper removes state at the window; the TTL only
 * bounds memory when no joiner runs.
 */
export function joinTiming(windowSeconds: number, seenAtMs: number, nowMs: number): JoinTiming {
  return { nowMs: seenAtMs, ttlSeconds: Math.max(1, Math.ceil(windowSeconds + EXPIRY_GRACE_SECONDS - (nowMs - seenAtMs) / 1000)) };
}

export function predictionRecord(message: Coordinates, prediction: PredictionEvent): PredictionRecord {
  return {
    requestId: prediction.requestId,
    deployment: prediction.deployment,
    pair: pairField(prediction),
    prediction,
    token: tokenOf(message),
  };
}

/** What the joiner keeps of feedback; its time is the message's when it carries none. */
export function feedbackRecord(
  message: Coordinates & Pick<InboundMessage, 'timestamp'>,
  { requestId, deployment, label, reward, occurredAt }: FeedbackEvent,
): FeedbackRecord {
  const feedback: StoredFeedback = { feedbackAt: occurredAt ?? new Date(Number(message.timestamp)).toISOString() };
  if (label !== undefined) feedback.label = label;
  if (reward !== undefined) feedback.reward = reward;
  return { requestId, deployment, feedback, token: tokenOf(message) };
}

/** Per deployment of a predictions batch: its last offset, the counters of the first copies it stored, and their recent served buckets. */
export function reportBatches(accepted: { message: Coordinates; value: PredictionEvent }[], first: boolean[], counting?: UnitCounting): ReportBatch[] {
  const byDeployment = new Map<string, { batch: ReportBatch; firsts: PredictionEvent[] }>();
  accepted.forEach(({ message, value }, i) => {
    let entry = byDeployment.get(value.deployment);
    if (!entry) {
      const batch = { deployment: value.deployment, topic: message.topic, partition: message.partition, lastOffset: message.offset, counted: [] };
      byDeployment.set(value.deployment, (entry = { batch, firsts: [] }));
    }
    entry.batch.lastOffset = message.offset;
    if (!first[i]) return;
    entry.batch.counted.push({ offset: message.offset, ...reportCounts(value, counting) });
    entry.firsts.push(value);
  });
  return [...byDeployment.values()].map(({ batch, firsts }) => {
    const recent = recentCounts(firsts);
    return recent.length ? { ...batch, recent } : batch;
  });
}
