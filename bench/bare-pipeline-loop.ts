/**
 * Baseline for the event-pipeline benchmark: the least a Kafka join of predictions with
 * their feedback can do. One kafkajs consumer (eachBatch, one batch at a time, like the
 * services' consumer server) reads the predictions and feedback topics; a message whose
 * key (the requestId) was already seen on either topic completes a pair, and for each
 * completed pair one output message of a joined event's size (JOINED_BYTES) is produced,
 * keyed by requestId (acks all, default partitioner), before the batch's offsets are
 * resolved and committed. The only state is an in-memory set of requestIds waiting for
 * their other half. No JSON parsing, validation, Redis, transactions, DLQ, metrics, and
 * no second stage applying statistics.
 *
 * Env: PORT (readiness: 200 once the group is joined), KAFKA_BROKERS, INPUT_TOPICS
 * (comma-separated), OUTPUT_TOPIC, GROUP, JOINED_BYTES.
 */
import { createServer } from 'node:http';
import { Kafka, logLevel, Partitioners } from 'kafkajs';

const env = process.env;
const kafka = new Kafka({ brokers: (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), clientId: 'bench-bare-pipeline', logLevel: logLevel.ERROR });
const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
const consumer = kafka.consumer({ groupId: env.GROUP ?? 'bench-bare-pipeline', allowAutoTopicCreation: false });
const output = env.OUTPUT_TOPIC!;
const joinedBytes = Number(env.JOINED_BYTES ?? 700);
// `{"requestId":"<key>","pad":"<x…>"}` is 27 bytes plus the key plus the padding.
const padding = 'x'.repeat(joinedBytes);
const perRequest = Math.max(1, Math.min(1000, Math.floor((512 * 1024) / joinedBytes)));
const waiting = new Set<string>();
let joined = false;

async function main(): Promise<void> {
  await producer.connect();
  await consumer.connect();
  consumer.on(consumer.events.GROUP_JOIN, () => (joined = true));
  await consumer.subscribe({ topics: env.INPUT_TOPICS!.split(','), fromBeginning: true });
  await consumer.run({
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary }) => {
      if (!batch.messages.length) return;
      const messages: { key: string; value: string }[] = [];
      for (const message of batch.messages) {
        const key = message.key?.toString() ?? '';
        if (!waiting.delete(key)) {
          waiting.add(key);
          continue;
        }
        messages.push({ key, value: `{"requestId":"${key}","pad":"${padding.slice(0, Math.max(0, joinedBytes - 27 - key.length))}"}` });
      }
      // Produce requests bounded like the services' consumer server does (≤ 1000 messages,
      // ≈ 512 KB), so a backlog batch's outputs never exceed the broker's message.max.bytes.
      for (let i = 0; i < messages.length; i += perRequest) await producer.send({ topic: output, messages: messages.slice(i, i + perRequest) });
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
    .finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

main().catch((error) => {
  process.stderr.write(`bare-pipeline-loop failed: ${(error as Error).stack}\n`);
  process.exit(1);
});
