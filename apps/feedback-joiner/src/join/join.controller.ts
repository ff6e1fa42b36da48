import { Controller } from '@nestjs/common';
import { EventPattern } from '@nestjs/microservices';
import { TOPICS } from '@switchyard/contracts';
import { BatchOutcome, InboundBatch, KafkaClient } from '@switchyard/messaging';
import { joinMetrics } from './join.metrics';
import { JoinOutcome, JoinService } from './join.service';

/** The three inputs of the join; a batch's joined events commit in one transaction with its offsets. */
@Controller()
export class JoinController {
  constructor(
    private readonly join: JoinService,
    private readonly kafka: KafkaClient,
  ) {}

  @EventPattern(TOPICS.predictions)
  async predictions(batch: InboundBatch): Promise<BatchOutcome> {
    return this.outcome(TOPICS.predictions, await this.join.onPredictions(batch.messages));
  }

  @EventPattern(TOPICS.shadowPredictions)
  async shadowPredictions(batch: InboundBatch): Promise<BatchOutcome> {
    return this.outcome(TOPICS.shadowPredictions, await this.join.onPredictions(batch.messages));
  }

  @EventPattern(TOPICS.feedback)
  async feedback(batch: InboundBatch): Promise<BatchOutcome> {
    return this.outcome(TOPICS.feedback, await this.join.onFeedback(batch.messages));
  }

  private outcome(topic: string, { rejected, joined, completed }: JoinOutcome): BatchOutcome {
    if (rejected.length) joinMetrics.rejected.inc({ topic }, rejected.length);
    return {
      rejected,
      outputs: [{ topic: this.kafka.topics.joined, messages: joined }],
      ...(completed.length && { afterCommit: async () => void (await this.join.compact(completed)) }),
    };
  }
}
