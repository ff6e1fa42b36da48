import { KafkaClient } from '@switchyard/messaging';
import { ServiceDefinition } from '@switchyard/runtime';
import { ShadowWorkerEnv } from './shadow-worker.env';
import { ShadowWorkerModule } from './shadow-worker.module';

export const shadowWorkerService: ServiceDefinition<ShadowWorkerEnv> = {
  name: 'shadow-worker',
  summary: 'calls the shadow variants of mirrored requests and publishes their predictions',
  envClass: ShadowWorkerEnv,
  module: () => ShadowWorkerModule,
  consumers: (app, env) => app.get(KafkaClient).consumerServer(env.SHADOW_GROUP, ['shadowRequests']),
};
