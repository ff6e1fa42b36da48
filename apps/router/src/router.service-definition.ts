import { fastifyJsonBody, ServiceDefinition } from '@switchyard/runtime';
import { KafkaClient } from '@switchyard/messaging';
import { setupOpenApi } from './openapi/openapi';
import { RouterEnv } from './router.env';
import { RouterModule } from './router.module';

export const routerService: ServiceDefinition<RouterEnv> = {
  name: 'router',
  summary: 'serves predictions over HTTP, the Open Inference Protocol and Kafka, and hosts the control-plane API',
  envClass: RouterEnv,
  module: () => RouterModule,
  configure: (app) => setupOpenApi(app),
  // The Open Inference Protocol's routes read their bodies as before, until they follow the protocol's rules.
  bodyReaders: [{ prefix: '/v2', read: fastifyJsonBody }],
  consumers: (app, env) => (env.KAFKA_INGRESS === 'true' ? app.get(KafkaClient).consumerServer(env.INGRESS_GROUP, ['requests']) : undefined),
};
