/**
 * Baseline for the Kafka-ingress benchmark: the least a Kafka front of a model can do.
 * One kafkajs consumer (eachBatch, like the router's consumer server) reads requests
 * `{requestId, deployment, inputs}`, calls the model over OIP v2 with the same undici Pool
 * settings as `libs/model-client` (the whole batch at once, as the router does), produces
 * one answer `{requestId, deployment, variant, outputs}` per request keyed by requestId
 * (acks all, default partitioner), then commits. No validation, strategy, Redis, DLQ,
 * prediction events or metrics.
 *
 * Env: REQUESTS_TOPIC, RESPONSES_TOPIC, MODEL_URL, MODEL, and those of `runBareLoop`.
 */
import { inferOutputs, modelPool } from './bare-infer';
import { runBareLoop } from './bare-loop';

const env = process.env;
const model = env.MODEL ?? 'churn-v1';
const path = `/v2/models/${encodeURIComponent(model)}/infer`;
const pool = modelPool(env.MODEL_URL ?? 'http://127.0.0.1:9000');

runBareLoop({
  name: 'bare-kafka-loop',
  inputTopics: [env.REQUESTS_TOPIC!],
  outputTopic: env.RESPONSES_TOPIC!,
  outputBytes: 256,
  close: () => pool.close(),
  // The whole batch at once, as the router's ingress does.
  outputs: (batch) =>
    Promise.all(
      batch.map(async (message) => {
        const request = JSON.parse(message.value!.toString('utf8')) as { requestId: string; deployment: string; inputs: unknown };
        let body: unknown;
        try {
          body = {
            requestId: request.requestId,
            deployment: request.deployment,
            variant: 'v1',
            outputs: (await inferOutputs(pool, path, request.requestId, request.inputs)).outputs,
          };
        } catch (error) {
          body = { requestId: request.requestId, error: (error as Error).message };
        }
        return { key: request.requestId, value: JSON.stringify(body) };
      }),
    ),
});
