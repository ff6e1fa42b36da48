import { Controller, Logger } from '@nestjs/common';
import { EventPattern } from '@nestjs/microservices';
import { eventJson, ShadowRequestEvent, TOPICS } from '@switchyard/contracts';
import { BatchOutcome, InboundBatch, KafkaClient, parseBatch } from '@switchyard/messaging';
import { shadowMetrics } from './shadow.metrics';
import { ShadowService } from './shadow.service';

/**
 * One batch of shadow requests in, one shadow prediction per (request, shadow) out.
 * Returns only once the broker acknowledged them all, so the offsets commit after
 * the output exists; a redelivered request is called again and its shadow predictions
 * published again, which the joiner absorbs (first prediction per pair wins).
 */
@Controller()
export class ShadowController {
  private readonly logger = new Logger(ShadowController.name);

  constructor(
    private readonly shadows: ShadowService,
    private readonly kafka: KafkaClient,
  ) {}

  @EventPattern(TOPICS.shadowRequests)
  async handle(batch: InboundBatch): Promise<BatchOutcome> {
    const { accepted, rejected } = parseBatch(ShadowRequestEvent, batch.messages, 'shadow request');
    const requests = accepted.map(({ value }) => value);
    // kafkajs sends a heartbeat at most once per heartbeat interval, however often asked.
    const heartbeat = () => void batch.heartbeat().catch(() => undefined);
    const events = await this.shadows.run(requests, heartbeat);
    if (events.length) {
      await this.kafka.publish(
        this.kafka.topics.shadowPredictions,
        events.map((event) => {
          // Under Kafka's record limit however large the shadow's outputs: a record the broker refuses would stall the partition.
          const { json, trimmed } = eventJson(event);
          if (trimmed) shadowMetrics.eventsTrimmed.inc({ deployment: event.deployment });
          return { key: event.requestId, value: json };
        }),
      );
    }
    if (rejected.length) shadowMetrics.rejected.inc(rejected.length);
    const failed = events.filter((event) => event.error).length;
    if (failed) this.logger.warn({ topic: batch.topic, partition: batch.partition, failed, published: events.length }, 'some shadow variants failed');
    return { rejected };
  }
}
