import { Injectable, Logger } from '@nestjs/common';
import { FeedbackEvent, JoinedEvent, PredictionEvent } from '@switchyard/contracts';
import { InboundMessage, OutboundMessage, parseBatch, Rejection } from '@switchyard/messaging';
import { JoinCandidate, JoinStateStore, JoinTiming, SpecVersions } from '@switchyard/store';
import { joinPair, pairField, reportFields, StoredFeedback } from '@switchyard/strategies';
import { FeedbackJoinerEnv } from '../feedback-joiner.env';
import { joinMetrics } from './join.metrics';

/**
 * Joins predictions (served and shadow) with feedback by requestId, whichever comes
 * first. Per Kafka batch: one pipelined Redis round trip stores the batch and, in the
 * same Lua step that finds a pair complete, claims that pair for the message that
 * completed it (its `topic:partition:offset`, see JoinStateStore). The joined events of
 * the pairs this batch claimed are returned to the consumer, which writes them, its DLQ
 * records and the batch's offsets in one Kafka transaction. There is no second round
 * trip that marks pairs done.
 *
 * Exactly once in effect: a later duplicate of a prediction or feedback (other
 * coordinates) finds the pair claimed and emits nothing; a redelivery of the claiming
 * message itself (its transaction aborted or never committed, so nobody read its output)
 * holds the same claim and emits the pair again, replacing the lost attempt. The joined
 * event's id is deterministic per pair (joinedEventId), so in what the claim cannot see
 * (join state rebuilt after Redis was lost, a zombie joiner committing after a
 * rebalance) a copy carries the same eventId and the bandit updater counts it once.
 */
@Injectable()
export class JoinService {
  private readonly logger = new Logger(JoinService.name);

  constructor(
    private readonly state: JoinStateStore,
    private readonly specs: SpecVersions,
    private readonly env: FeedbackJoinerEnv,
  ) {}

  async onPredictions(messages: InboundMessage[]): Promise<JoinOutcome> {
    const { accepted, rejected } = parseBatch(PredictionEvent, messages, 'prediction event');
    const records = accepted.map(({ message, value: prediction }) => ({
      requestId: prediction.requestId,
      deployment: prediction.deployment,
      field: pairField(prediction),
      json: JSON.stringify(prediction),
      token: tokenOf(message),
      counters: reportFields(prediction),
    }));
    return { rejected, joined: await this.join(await this.state.recordPredictions(records, this.timing())) };
  }

  async onFeedback(messages: InboundMessage[]): Promise<JoinOutcome> {
    const { accepted, rejected } = parseBatch(FeedbackEvent, messages, 'feedback', (feedback) =>
      feedback.label === undefined && feedback.reward === undefined ? 'feedback needs a label or a reward' : undefined,
    );
    const records = accepted.map(({ message, value: { requestId, label, reward, occurredAt } }) => {
      const stored: StoredFeedback = { feedbackAt: occurredAt ?? new Date(Number(message.timestamp)).toISOString() };
      if (label !== undefined) stored.label = label;
      if (reward !== undefined) stored.reward = reward;
      return { requestId, json: JSON.stringify(stored), token: tokenOf(message) };
    });
    return { rejected, joined: await this.join(await this.state.recordFeedback(records, this.timing())) };
  }

  private timing(): JoinTiming {
    // The sweeper removes state at the window; the TTL only bounds memory when no joiner runs.
    return { ttlSeconds: this.env.JOIN_WINDOW_SECONDS + EXPIRY_GRACE_SECONDS, nowMs: Date.now() };
  }

  /** The joined events of the pairs this batch claimed; the consumer writes them in its transaction. */
  private async join(candidates: JoinCandidate[]): Promise<OutboundMessage[]> {
    if (!candidates.length) return [];
    // A batch may hold the same message twice; each pair is joined once.
    const pairs = new Map<string, { requestId: string; field: string; prediction: PredictionEvent; feedback: StoredFeedback }>();
    for (const candidate of candidates) {
      const prediction = JSON.parse(candidate.prediction) as PredictionEvent;
      const field = pairField(prediction);
      pairs.set(`${candidate.requestId}\n${field}`, { requestId: candidate.requestId, field, prediction, feedback: JSON.parse(candidate.feedback) as StoredFeedback });
    }
    const specs = await this.rewardSpecs([...pairs.values()].map((p) => p.prediction));

    const events: JoinedEvent[] = [];
    const now = new Date();
    for (const { prediction, feedback } of pairs.values()) {
      const result = joinPair(prediction, feedback, specs.get(`${prediction.deployment}@${prediction.specVersion}`), now);
      if (result.ok) {
        events.push(result.event);
        continue;
      }
      joinMetrics.unjoinable.inc({ deployment: prediction.deployment, variant: prediction.variant, cause: result.cause });
      this.logger.warn({ requestId: prediction.requestId, deployment: prediction.deployment, variant: prediction.variant, role: prediction.role, cause: result.cause, reason: result.reason }, 'pair cannot be joined');
    }
    for (const event of events) joinMetrics.joined.inc({ deployment: event.deployment, variant: event.variant, role: event.role });
    return events.map((event) => ({ key: event.requestId, value: JSON.stringify(event) }));
  }

  private async rewardSpecs(predictions: PredictionEvent[]) {
    const keys = [...new Map(predictions.map((p) => [`${p.deployment}@${p.specVersion}`, p])).entries()];
    const specs = await Promise.all(keys.map(([, p]) => this.specs.get(p.deployment, p.specVersion)));
    return new Map(keys.map(([key], i) => [key, specs[i]?.reward]));
  }
}

export interface JoinOutcome {
  rejected: Rejection[];
  joined: OutboundMessage[];
}

/** Where a message sits in Kafka: the claim it makes on the pairs it completes. */
function tokenOf(message: InboundMessage): string {
  return `${message.topic}:${message.partition}:${message.offset}`;
}

/** Margin between the end of the window (when the sweeper counts and removes) and the key's own expiry. */
export const EXPIRY_GRACE_SECONDS = 300;
