import { Controller } from '@nestjs/common';
import { EventPattern } from '@nestjs/microservices';
import { TOPICS } from '@switchyard/contracts';
import { BatchOutcome, InboundBatch, Rejection } from '@switchyard/messaging';
import { joinMetrics } from './join.metrics';
import { JoinService } from './join.service';

/** The three inputs of the join; each batch returns once its joined events are acknowledged. */
@Controller()
export class JoinController {
  constructor(private readonly join: JoinService) {}

  @EventPattern(TOPICS.predictions)
  async predictions(batch: InboundBatch): Promise<BatchOutcome> {
    return outcome(TOPICS.predictions, await this.join.onPredictions(batch.messages));
  }

  @EventPattern(TOPICS.shadowPredictions)
  async shadowPredictions(batch: InboundBatch): Promise<BatchOutcome> {
    return outcome(TOPICS.shadowPredictions, await this.join.onPredictions(batch.messages));
  }

  @EventPattern(TOPICS.feedback)
  async feedback(batch: InboundBatch): Promise<BatchOutcome> {
    return outcome(TOPICS.feedback, await this.join.onFeedback(batch.messages));
  }
}

function outcome(topic: string, rejected: Rejection[]): BatchOutcome {
  if (rejected.length) joinMetrics.rejected.inc({ topic }, rejected.length);
  return { rejected };
}
