import { TOPICS } from '@switchyard/contracts';
import { KafkaClient, KafkaConsumerServer } from '@switchyard/messaging';
import { ServiceDefinition } from '@switchyard/runtime';
import { ShadowWorkerEnv } from './shadow-worker.env';
import { ShadowWorkerModule } from './shadow-worker.module';

export const shadowWorkerService: ServiceDefinition<ShadowWorkerEnv> = {
  name: 'shadow-worker',
  summary: 'calls the shadow variants of mirrored requests and publishes their predictions',
  envClass: ShadowWorkerEnv,
  module: () => ShadowWorkerModule,
  consumers: (app, env) => {
    const kafka = app.get(KafkaClient);
    return new KafkaConsumerServer({
      kafka: kafka.kafka,
      groupId: env.SHADOW_GROUP,
      topics: { [TOPICS.shadowRequests]: kafka.topics.shadowRequests },
      dlqTopic: kafka.topics.dlq,
      publish: (topic, messages) => kafka.publish(topic, messages),
    });
  },
};
