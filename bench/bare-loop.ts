/**
 * What both bare kafkajs baselines share: one consumer (eachBatch, one batch at a time,
 * like the services' consumer server) whose batch becomes output messages produced to
 * one topic (acks all, kafkajs's default partitioner) in requests bounded like the
 * services' (≤ 1000 messages, ≈ 512 KB), then its offsets committed. Readiness (200 on
 * PORT) once the group is joined; SIGTERM disconnects and exits.
 *
 * Env: PORT, KAFKA_BROKERS, GROUP.
 */
import { createServer } from 'node:http';
import { Kafka, KafkaMessage, logLevel, Message, Partitioners } from 'kafkajs';

export interface BareLoop {
  name: string;
  inputTopics: string[];
  outputTopic: string;
  /** The batch's output messages; the loop's whole work. */
  outputs: (messages: KafkaMessage[]) => Promise<Message[]> | Message[];
  /** Approximate bytes of one output message, to bound produce requests. */
  outputBytes: number;
  close?: () => Promise<void>;
}

export function runBareLoop(loop: BareLoop): void {
  const env = process.env;
  const kafka = new Kafka({ brokers: (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), clientId: `bench-${loop.name}`, logLevel: logLevel.ERROR });
  // Idempotent like the services' producers, so the baseline pays what they pay.
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 5,
  });
  const consumer = kafka.consumer({ groupId: env.GROUP ?? `bench-${loop.name}`, allowAutoTopicCreation: false });
  const perRequest = Math.max(1, Math.min(1000, Math.floor((512 * 1024) / loop.outputBytes)));
  let joined = false;

  const main = async () => {
    await producer.connect();
    await consumer.connect();
    consumer.on(consumer.events.GROUP_JOIN, () => (joined = true));
    await consumer.subscribe({ topics: loop.inputTopics, fromBeginning: true });
    await consumer.run({
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary }) => {
        if (!batch.messages.length) return;
        const messages = await loop.outputs(batch.messages);
        for (let i = 0; i < messages.length; i += perRequest) await producer.send({ topic: loop.outputTopic, messages: messages.slice(i, i + perRequest) });
        resolveOffset(batch.lastOffset());
        await commitOffsetsIfNecessary();
      },
    });
  };

  const server = createServer((_req, res) => res.writeHead(joined ? 200 : 503).end());
  server.listen(Number(env.PORT ?? 0), '127.0.0.1');
  const stop = () => {
    server.close();
    void consumer
      .disconnect()
      .then(() => producer.disconnect())
      .then(() => loop.close?.())
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  main().catch((error) => {
    process.stderr.write(`${loop.name} failed: ${(error as Error).stack}\n`);
    process.exit(1);
  });
}
