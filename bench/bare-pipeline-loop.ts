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
 * Env: INPUT_TOPICS (comma-separated), OUTPUT_TOPIC, JOINED_BYTES, and those of `runBareLoop`.
 */
import { runBareLoop } from './bare-loop';

const env = process.env;
const joinedBytes = Number(env.JOINED_BYTES ?? 700);
// `{"requestId":"<key>","pad":"<x…>"}` is 27 bytes plus the key plus the padding.
const padding = 'x'.repeat(joinedBytes);
const waiting = new Set<string>();

runBareLoop({
  name: 'bare-pipeline-loop',
  inputTopics: env.INPUT_TOPICS!.split(','),
  outputTopic: env.OUTPUT_TOPIC!,
  outputBytes: joinedBytes,
  outputs: (batch) => {
    const messages: { key: string; value: string }[] = [];
    for (const message of batch) {
      const key = message.key?.toString() ?? '';
      if (!waiting.delete(key)) {
        waiting.add(key);
        continue;
      }
      messages.push({ key, value: `{"requestId":"${key}","pad":"${padding.slice(0, Math.max(0, joinedBytes - 27 - key.length))}"}` });
    }
    return messages;
  },
});
