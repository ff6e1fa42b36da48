import { KafkaClient } from '@switchyard/messaging';
import { hostname } from 'node:os';
import { ServiceDefinition } from '@switchyard/runtime';
import { FeedbackJoinerEnv } from './feedback-joiner.env';
import { FeedbackJoinerModule } from './feedback-joiner.module';

export const feedbackJoinerService: ServiceDefinition<FeedbackJoinerEnv> = {
  name: 'feedback-joiner',
  summary: 'joins predictions with their ground truth and publishes joined events',
  envClass: FeedbackJoinerEnv,
  module: () => FeedbackJoinerModule,
  consumers: (app, env) =>
    app.get(KafkaClient).consumerServer(env.JOIN_GROUP, ['predictions', 'shadowPredictions', 'feedback'], {
      // Stable across restarts of the same instance, so the broker fences and aborts a
      // transaction a killed predecessor left open instead of waiting for its timeout.
      transactionalId: `${env.JOIN_GROUP}.${env.INSTANCE_ID ?? `${hostname()}-${env.PORT}`}`,
    }),
};
