import { fastifyJsonBody, ServiceDefinition } from '@switchyard/runtime';
import { InferenceModule } from './inference/inference.module';
import { ModelServerEnv } from './model-server.env';

export const modelServerService: ServiceDefinition<ModelServerEnv> = {
  name: 'model-server',
  summary:
    'serves the built-in demo churn models (churn-v1, churn-v2, churn-v3, churn-perfect, churn-slow, churn-broken) over the Open Inference Protocol v2 and plain JSON',
  envClass: ModelServerEnv,
  module: () => InferenceModule,
  // The Open Inference Protocol's routes read their bodies as before, until they follow the protocol's rules.
  bodyReaders: [{ prefix: '/v2', read: fastifyJsonBody }],
};
