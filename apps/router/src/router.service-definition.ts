import { ServiceDefinition } from '@switchyard/runtime';
import { KafkaClient } from '@switchyard/messaging';
import { setupOpenApi } from './openapi/openapi';
import { RouterEnv } from './router.env';
import { RouterModule } from './router.module';
import { pageSecurityHeaders } from './ui/security-headers';

export const routerService: ServiceDefinition<RouterEnv> = {
  name: 'router',
  summary: 'serves predictions over HTTP, the Open Inference Protocol and Kafka, and hosts the control-plane API',
  envClass: RouterEnv,
  module: () => RouterModule,
  configure: (app) => {
    pageSecurityHeaders(app);
    setupOpenApi(app);
  },
  consumers: (app, env) => (env.KAFKA_INGRESS === 'true' ? app.get(KafkaClient).consumerServer(env.INGRESS_GROUP, ['requests']) : undefined),
};
