import { ServiceDefinition } from '@switchyard/runtime';
import { KafkaClient, KafkaConsumerServer } from '@switchyard/messaging';
import { TOPICS } from '@switchyard/contracts';
import { RouterEnv } from './router.env';
import { RouterModule } from './router.module';

export const routerService: ServiceDefinition<RouterEnv> = {
  name: 'router',
  summary: 'serves predictions over HTTP, the Open Inference Protocol and Kafka, and hosts the control-plane API',
  envClass: RouterEnv,
  module: () => RouterModule,
  consumers: (app, env) => {
    if (env.KAFKA_INGRESS !== 'true') return undefined;
    const kafka = app.get(KafkaClient);
    return new KafkaConsumerServer({
      kafka: kafka.kafka,
      groupId: env.INGRESS_GROUP,
      topics: { [TOPICS.requests]: kafka.topics.requests },
      dlqTopic: kafka.topics.dlq,
      publish: (topic, messages) => kafka.publish(topic, messages),
    });
  },
};
