/**
 * Baseline for the Kafka-ingress benchmark: the least a Kafka front of a model can do.
 * One kafkajs consumer (eachBatch, like the router's consumer server) reads requests
 * `{requestId, deployment, inputs}`, calls the model over OIP v2 with the same undici Pool
 * settings as `libs/model-client` (the whole batch at once, as the router does), produces
 * one answer `{requestId, deployment, variant, outputs}` per request keyed by requestId
 * (acks all, default partitioner), then commits. No validation, strategy, Redis, DLQ,
 * prediction events or metrics.
 *
 * Env: PORT (readiness), KAFKA_BROKERS, REQUESTS_TOPIC, RESPONSES_TOPIC, GROUP, MODEL_URL, MODEL.
 */
import { createServer } from 'node:http';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { inferOutputs, modelPool } from './bare-infer';

const env = process.env;
const model = env.MODEL ?? 'churn-v1';
const path = `/v2/models/${encodeURIComponent(model)}/infer`;
const pool = modelPool(env.MODEL_URL ?? 'http://127.0.0.1:9000');
const kafka = new Kafka({ brokers: (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), clientId: 'bench-bare-loop', logLevel: logLevel.ERROR });
const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
const consumer = kafka.consumer({ groupId: env.GROUP ?? 'bench-bare-loop', allowAutoTopicCreation: false });
const responses = env.RESPONSES_TOPIC!;
let joined = false;

async function main(): Promise<void> {
  await producer.connect();
  await consumer.connect();
  consumer.on(consumer.events.GROUP_JOIN, () => (joined = true));
  await consumer.subscribe({ topics: [env.REQUESTS_TOPIC!], fromBeginning: true });
  await consumer.run({
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary }) => {
      if (!batch.messages.length) return;
      const messages = await Promise.all(
        batch.messages.map(async (message) => {
          const request = JSON.parse(message.value!.toString('utf8')) as { requestId: string; deployment: string; inputs: unknown };
          let body: unknown;
          try {
            body = { requestId: request.requestId, deployment: request.deployment, variant: 'v1', outputs: (await inferOutputs(pool, path, request.requestId, request.inputs)).outputs };
          } catch (error) {
            body = { requestId: request.requestId, error: (error as Error).message };
          }
          return { key: request.requestId, value: JSON.stringify(body) };
        }),
      );
      await producer.send({ topic: responses, messages });
      resolveOffset(batch.lastOffset());
      await commitOffsetsIfNecessary();
    },
  });
}

const server = createServer((_req, res) => res.writeHead(joined ? 200 : 503).end());
server.listen(Number(env.PORT ?? 0), '127.0.0.1');

const stop = () => {
  server.close();
  void consumer
    .disconnect()
    .then(() => producer.disconnect())
    .then(() => pool.close())
    .finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

main().catch((error) => {
  process.stderr.write(`bare-kafka-loop failed: ${(error as Error).stack}\n`);
  process.exit(1);
});
