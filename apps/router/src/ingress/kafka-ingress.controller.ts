import { Controller } from '@nestjs/common';
import { EventPattern } from '@nestjs/microservices';
import { ErrorResponse, parseAndValidate, PredictRequestMessage, PredictResponse, REPLY_TO_HEADER, TOPICS } from '@switchyard/contracts';
import { BatchOutcome, InboundBatch, InboundMessage, KafkaClient, Rejection } from '@switchyard/messaging';
import { routerMetrics } from '../router.metrics';
import { PredictService } from '../predict/predict.service';
import { RouterEnv } from '../router.env';

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

/**
 * Kafka ingress: each valid request is answered on its `reply-to` topic (else the
 * responses topic), keyed by requestId; the batch commits once every answer is written.
 * A request that fails (unknown deployment, model down) is answered with an error;
 * a message that is not a request at all goes to the DLQ.
 */
@Controller()
export class KafkaIngressController {
  private readonly replyPrefix: string;
  private readonly ownTopics: Set<string>;

  constructor(
    private readonly predictions: PredictService,
    private readonly kafka: KafkaClient,
    env: RouterEnv,
  ) {
    this.replyPrefix = env.REPLY_TOPIC_PREFIX ?? kafka.topics.responses;
    this.ownTopics = new Set(Object.values(kafka.topics).filter((topic) => topic !== kafka.topics.responses));
  }

  @EventPattern(TOPICS.requests)
  async handle(batch: InboundBatch): Promise<BatchOutcome> {
    const rejected: Rejection[] = [];
    const answers = await Promise.all(
      batch.messages.map(async (message) => {
        const reason = await this.problemWith(message);
        if (typeof reason === 'string') {
          rejected.push({ message, reason });
          return [];
        }
        return [{ topic: reason.replyTo, requestId: reason.request.requestId, body: await this.answer(reason.request) }];
      }),
    );
    const byTopic = new Map<string, { key: string; value: string }[]>();
    for (const { topic, requestId, body } of answers.flat()) {
      const list = byTopic.get(topic) ?? byTopic.set(topic, []).get(topic)!;
      list.push({ key: requestId, value: JSON.stringify(body) });
    }
    await Promise.all([...byTopic].map(([topic, messages]) => this.kafka.publish(topic, messages)));
    if (rejected.length) routerMetrics.rejected.inc({ route: 'kafka-ingress' }, rejected.length);
    return { rejected };
  }

  private async problemWith(message: InboundMessage): Promise<string | { request: PredictRequestMessage; replyTo: string }> {
    const parsed = parseAndValidate(PredictRequestMessage, message.value);
    if (!parsed.ok) return `invalid request: ${parsed.problems.join('; ')}`;
    const replyTo = message.headers[REPLY_TO_HEADER] ?? this.kafka.topics.responses;
    if (!TOPIC_NAME.test(replyTo)) return `invalid ${REPLY_TO_HEADER} header ${JSON.stringify(replyTo)}`;
    // Whoever may write a request must not be able to write into the joined topic, the feedback topic, …
    if (this.ownTopics.has(replyTo) || !(replyTo === this.kafka.topics.responses || replyTo.startsWith(this.replyPrefix))) {
      return `${REPLY_TO_HEADER} topic "${replyTo}" is not allowed: answers go to ${this.kafka.topics.responses} or topics starting with "${this.replyPrefix}" (REPLY_TOPIC_PREFIX)`;
    }
    if (!(await this.kafka.topicExists(replyTo))) return `${REPLY_TO_HEADER} topic "${replyTo}" does not exist`;
    return { request: parsed.value, replyTo };
  }

  private async answer(request: PredictRequestMessage): Promise<PredictResponse | ErrorResponse> {
    const outcome = await this.predictions.predict(request.deployment, { ...request, repeatsAllowed: true });
    return outcome.ok ? outcome.value : { requestId: request.requestId, error: outcome.message };
  }
}
