import { Controller } from '@nestjs/common';
import { EventPattern } from '@nestjs/microservices';
import { TOPICS } from '@switchyard/contracts';
import { BatchOutcome, InboundBatch } from '@switchyard/messaging';
import { RewardsService } from './rewards.service';

/** Each batch of joined events returns once Redis has applied it (or asks for its partition again); offsets commit after. */
@Controller()
export class RewardsController {
  constructor(private readonly rewards: RewardsService) {}

  @EventPattern(TOPICS.joined)
  async joined(batch: InboundBatch): Promise<BatchOutcome> {
    return this.rewards.onJoined(batch);
  }
}
