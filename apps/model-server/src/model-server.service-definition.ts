import { oipParse } from '@switchyard/contracts';
import { ServiceDefinition } from '@switchyard/runtime';
import { InferenceModule } from './inference/inference.module';
import { ModelServerEnv } from './model-server.env';

export const modelServerService: ServiceDefinition<ModelServerEnv> = {
  name: 'model-server',
  summary:
    'serves the built-in demo churn models (churn-v1, churn-v2, churn-v3, churn-perfect, churn-slow, churn-broken) over the Open Inference Protocol v2 (REST, and gRPC on GRPC_PORT) and plain JSON',
  envClass: ModelServerEnv,
  module: () => InferenceModule,
  // An OIP server takes JSON with or without a Content-Type (tritonclient sends none); 64-bit integers exact, nesting capped.
  bodyReaders: [
    {
      prefix: '/v2',
      read: (body) => {
        try {
          return oipParse(body.toString('utf8'));
        } catch (error) {
          throw Object.assign(error as Error, { statusCode: 400 });
        }
      },
    },
  ],
};
