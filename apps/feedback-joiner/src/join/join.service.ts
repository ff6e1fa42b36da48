import { Injectable, Logger } from '@nestjs/common';
import { FeedbackEvent, feedbackProblem, JoinedEvent, PredictionEvent } from '@switchyard/contracts';
import { InboundMessage, OutboundMessage, parseBatch, Rejection, TransientError } from '@switchyard/messaging';
import { countEach } from '@switchyard/runtime';
import {
  CompletedPair,
  countFeedbackOutcome,
  FeedbackOutcomeCounts,
  JoinCandidate,
  JoinStateLost,
  JoinStateStore,
  JoinTiming,
  ReportStore,
  SpecVersions,
} from '@switchyard/store';
import { FEEDBACK_OUTCOME_FIELDS, joinPair, pairField, StoredFeedback } from '@switchyard/strategies';
import { FeedbackJoinerEnv } from '../feedback-joiner.env';
import { JoinStateRebuilder } from './join-state.rebuilder';
import { feedbackRecord, joinTiming, predictionRecord, reportBatches } from './join.records';
import { joinMetrics } from './join.metrics';

/**
 * Joins predictions (served and shadow) with feedback by requestId, whichever comes
 * first, per deployment: feedback naming a deployment joins only its prediction. Per
 * Kafka batch: one pipelined Redis round trip stores the batch and, in the same Lua step
 * that finds a pair complete, claims that pair for the message that completed it (its
 * `topic:partition:offset`, see JoinStateStore); a second round trip adds the report
 * counters of the predictions first stored from this batch, each offset once (ReportStore).
 * The joined events of the pairs this batch claimed are returned to the consumer, which
 * writes them, its DLQ records and the batch's offsets in one Kafka transaction.
 *
 * Exactly once in effect: a later duplicate of a prediction or feedback (other
 * coordinates) finds the pair claimed and emits nothing; a redelivery of the claiming
 * message itself (its transaction aborted or never committed, so nobody read its output)
 * holds the same claim and emits the pair again, replacing the lost attempt. When Redis
 * was lost, the store refuses the batch (JoinStateLost): the batch is retried as a
 * transient failure while JoinStateRebuilder restores the state from Kafka. The joined
 * event's id is deterministic per pair (joinedEventId), so in what the claim cannot see
 * (a zombie joiner committing after a rebalance) a copy carries the same eventId. Once
 * the transaction committed, the batch's pairs are compacted (`compact`): the claiming
 * message is never redelivered, so a pair need only remember that it joined.
 */
@Injectable()
export class JoinService {
  private readonly logger = new Logger(JoinService.name);

  constructor(
    private readonly state: JoinStateStore,
    private readonly reports: ReportStore,
    private readonly specs: SpecVersions,
    private readonly rebuilder: JoinStateRebuilder,
    private readonly env: FeedbackJoinerEnv,
  ) {}

  async onPredictions(messages: InboundMessage[]): Promise<JoinOutcome> {
    const { accepted, rejected } = parseBatch(PredictionEvent, messages, 'prediction event');
    const records = accepted.map(({ message, value }) => predictionRecord(message, value));
    const timing = this.timing();
    const stored = await this.whileReady(() => this.state.recordPredictions(records, () => timing));
    const counting = this.env.unitCounting;
    await this.reports.add(reportBatches(accepted, stored.first, counting), counting.maxPerKey);
    this.refuse(stored.refused, accepted, rejected, 'prediction');
    return { rejected, joined: await this.join(stored.candidates), completed: completedPairs(stored.candidates) };
  }

  async onFeedback(messages: InboundMessage[]): Promise<JoinOutcome> {
    const { accepted, rejected } = parseBatch(FeedbackEvent, messages, 'feedback', feedbackProblem);
    const records = accepted.map(({ message, value }) => feedbackRecord(message, value));
    const timing = this.timing();
    const { candidates, refused: full } = await this.whileReady(() => this.state.recordFeedback(records, () => timing));
    this.refuse(full, accepted, rejected, 'feedback');
    // Feedback whose reward the range of a deployment it joins refuses goes to the DLQ with
    // the reason, when it completes the pair (a prediction completing it is not at fault:
    // the pair is only counted then).
    const byRequest = new Map(accepted.map(({ message, value }) => [value.requestId, message]));
    const refused = new Map<InboundMessage, string>();
    const joined = await this.join(candidates, (requestId, reason) => {
      const message = byRequest.get(requestId);
      if (message && !refused.has(message)) refused.set(message, reason);
    });
    for (const [message, reason] of refused) rejected.push({ message, reason: `feedback refused: ${reason}` });
    return { rejected, joined, completed: completedPairs(candidates) };
  }

  /** After the batch's transaction committed: its pairs keep only that they joined. */
  compact(completed: CompletedPair[]): Promise<number> {
    return this.state.compactPairs(completed);
  }

  /** Records the join state refused as pending past a limit go to the DLQ with the reason, counted. */
  private refuse(refused: Map<number, string>, accepted: { message: InboundMessage }[], rejected: Rejection[], kind: string) {
    if (refused.size) joinMetrics.pendingRefused.inc({ kind }, refused.size);
    for (const [i, reason] of refused) rejected.push({ message: accepted[i].message, reason });
  }

  /** Runs a live write; a lost state starts the rebuild and fails the batch as transient, so it is retried after. */
  private async whileReady<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (!(error instanceof JoinStateLost)) throw error;
      this.rebuilder.start();
      throw new TransientError(error.message, { cause: error });
    }
  }

  private timing(): JoinTiming {
    return joinTiming(this.env.JOIN_WINDOW_SECONDS, Date.now(), Date.now());
  }

  /** The joined events of the pairs this batch claimed; the consumer writes them in its transaction. */
  private async join(candidates: JoinCandidate[], onRewardOutOfRange?: (requestId: string, reason: string) => void): Promise<OutboundMessage[]> {
    if (!candidates.length) return [];
    // A batch may hold the same message twice; each pair is joined once.
    const pairs = new Map<string, { prediction: PredictionEvent; feedback: StoredFeedback }>();
    for (const candidate of candidates) {
      if ('undecodable' in candidate) {
        this.logger.warn({ requestId: candidate.requestId, error: candidate.undecodable.message }, 'pair cannot be joined');
        continue;
      }
      pairs.set(`${candidate.requestId}\n${pairField(candidate.prediction)}`, candidate);
    }
    const specs = await this.rewardSpecs([...pairs.values()].map((p) => p.prediction));

    const events: JoinedEvent[] = [];
    // Shown in the deployment's status: pairs that gave no reward, labels that can never equal the output.
    const outcomes = new Map<string, FeedbackOutcomeCounts>();
    const now = new Date();
    for (const { prediction, feedback } of pairs.values()) {
      const result = joinPair(prediction, feedback, specs.get(`${prediction.deployment}@${prediction.specVersion}`), now);
      if (result.ok) {
        events.push(result.event);
        if (result.labelMismatch) countFeedbackOutcome(outcomes, prediction.deployment, FEEDBACK_OUTCOME_FIELDS.labelMismatch, result.labelMismatch);
        continue;
      }
      countFeedbackOutcome(outcomes, prediction.deployment, `${FEEDBACK_OUTCOME_FIELDS.unjoinable}${result.cause}`);
      joinMetrics.unjoinable.inc({ deployment: prediction.deployment, variant: prediction.variant, cause: result.cause });
      if (result.cause === 'reward-out-of-range') onRewardOutOfRange?.(prediction.requestId, result.reason);
      this.logger.warn(
        {
          requestId: prediction.requestId,
          deployment: prediction.deployment,
          variant: prediction.variant,
          role: prediction.role,
          cause: result.cause,
          reason: result.reason,
        },
        'pair cannot be joined',
      );
    }
    await this.reports.addFeedbackOutcomes(outcomes);
    countEach(joinMetrics.joined, events, (event) => ({ deployment: event.deployment, variant: event.variant, role: event.role }));
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
  /** The pairs this batch claimed (joined, unjoinable or undecodable: settled either way), to compact once it commits. */
  completed: CompletedPair[];
}

function completedPairs(candidates: JoinCandidate[]): CompletedPair[] {
  return candidates.map(({ requestId, pair, token }) => ({ requestId, pair, token }));
}
