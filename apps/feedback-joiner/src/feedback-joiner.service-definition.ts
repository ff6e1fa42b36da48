import { TOPICS } from '@switchyard/contracts';
import { KafkaClient, KafkaConsumerServer } from '@switchyard/messaging';
import { ServiceDefinition } from '@switchyard/runtime';
import { FeedbackJoinerEnv } from './feedback-joiner.env';
import { FeedbackJoinerModule } from './feedback-joiner.module';

export const feedbackJoinerService: ServiceDefinition<FeedbackJoinerEnv> = {
  name: 'feedback-joiner',
  summary: 'joins predictions with their ground truth and publishes joined events',
  envClass: FeedbackJoinerEnv,
  module: () => FeedbackJoinerModule,
  consumers: (app, env) => {
    const kafka = app.get(KafkaClient);
    return new KafkaConsumerServer({
      kafka: kafka.kafka,
      groupId: env.JOIN_GROUP,
      topics: {
        [TOPICS.predictions]: kafka.topics.predictions,
        [TOPICS.shadowPredictions]: kafka.topics.shadowPredictions,
        [TOPICS.feedback]: kafka.topics.feedback,
      },
      dlqTopic: kafka.topics.dlq,
      publish: (topic, messages) => kafka.publish(topic, messages),
    });
  },
};
