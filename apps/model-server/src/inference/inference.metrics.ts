import { Counter } from 'prom-client';

export type InferenceStatus = 'ok' | 'invalid' | 'unknown-model' | 'failed';

export const inferenceMetrics = {
  inferences: new Counter({
    name: 'switchyard_model_server_inferences_total',
    help: 'Inference requests, by model ("unknown" when not served here), protocol (v2: OIP REST, grpc: OIP gRPC, json) and status (ok, invalid, unknown-model, failed)',
    labelNames: ['model', 'protocol', 'status'] as const,
  }),
};
