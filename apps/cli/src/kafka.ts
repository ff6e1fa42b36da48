import { randomBytes } from 'node:crypto';
import { DlqRecord, isWholeDlqRecord, parseJson as parseBoundedJson, TopicMap } from '@switchyard/contracts';
import { Following, KafkaConnection, readRange } from '@switchyard/messaging';
import { logLevel } from 'kafkajs';
import { unreachable, usageError } from './errors';
import { TAIL_TOPICS } from './inputs';

/**
 * Runs `use` on a connection of its own to `brokers`, closed after; fails with exit 3
 * and what to do when the broker does not answer.
 */
export async function withKafka<T>(brokers: string, use: (kafka: KafkaConnection) => Promise<T>): Promise<T> {
  const kafka = new KafkaConnection({
    clientId: `switchyard-cli-${randomBytes(3).toString('hex')}`,
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    retry: { retries: 2, initialRetryTime: 200 },
  });
  try {
    await kafka.brokerCount().catch((error: Error) => {
      throw unreachable(`Kafka not reachable at ${brokers} (${error.message}): start it with npm run infra:up, or pass --brokers / set KAFKA_BROKERS`);
    });
    return await use(kafka);
  } finally {
    await kafka.close().catch(() => undefined);
  }
}

/** A record's value as JSON (read as every consumer reads it: bounded, never throwing), else its text. */
export function parseJson(raw: string | null): unknown {
  if (raw === null) return null;
  const parsed = parseBoundedJson(raw);
  return parsed.ok ? parsed.value : raw;
}

/** A field of a parsed record, whatever the record turned out to be. */
const field = (value: unknown, name: string): unknown => (value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[name] : undefined);

/** Which topic a `tail` reads, and which of its records it shows. */
export function tailSource(what: string, topics: TopicMap, deployment?: string): { topic: string; keep: (value: unknown) => boolean } {
  const ofDeployment = (value: unknown) => deployment === undefined || field(value, 'deployment') === deployment;
  switch (what) {
    case 'predictions':
      return { topic: topics.predictions, keep: ofDeployment };
    case 'joined':
      return { topic: topics.joined, keep: ofDeployment };
    case 'decisions':
      return { topic: topics.deploymentEvents, keep: (value) => field(value, 'type') === 'decision' && ofDeployment(value) };
    case 'dlq':
      // A DLQ record holds the original bytes; its deployment, if any, is inside them.
      return {
        topic: topics.dlq,
        keep: (value) => deployment === undefined || field(parseJson((field(value, 'value') as string | undefined) ?? null), 'deployment') === deployment,
      };
    default:
      throw usageError(`cannot tail "${what}": choose one of ${TAIL_TOPICS.join(', ')}`);
  }
}

export interface TailOptions {
  fromBeginning: boolean;
  /** Stop at the end of the topic as it was when the tail started (else follow until `limit` or Ctrl-C). */
  untilEnd?: boolean;
  limit?: number;
  onMessage: (message: { topic: string; key: string | null; value: unknown; timestamp: string; partition: number; offset: string }) => void;
}

/**
 * Follows a topic with a consumer group of its own (read committed, nothing committed)
 * until `limit` records were shown, the end of the topic was reached (`untilEnd`), or
 * the process is interrupted.
 */
export async function tail(kafka: KafkaConnection, topic: string, keep: (value: unknown) => boolean, options: TailOptions): Promise<void> {
  let shown = 0;
  let done!: () => void;
  let failed!: (error: Error) => void;
  const finished = new Promise<void>((resolve, reject) => ((done = resolve), (failed = reject)));
  const stop = () => done();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let following: Following | undefined;
  try {
    following = await kafka.followTopic({
      topic,
      groupId: `switchyard-cli-tail-${randomBytes(6).toString('hex')}`,
      from: options.fromBeginning ? 'beginning' : 'end',
      consumer: { readUncommitted: false, maxWaitTimeInMs: 500 },
      onBatch: ({ partition, messages }) => {
        for (const message of messages) {
          if (options.limit !== undefined && shown >= options.limit) return;
          const value = parseJson(message.value?.toString() ?? null);
          if (!keep(value)) continue;
          shown++;
          options.onMessage({ topic, key: message.key, value, timestamp: message.timestamp, partition, offset: message.offset });
          if (options.limit !== undefined && shown >= options.limit) done();
        }
      },
    });
    if (options.untilEnd) following.caughtUp.then(done, failed);
    await finished;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await following?.stop();
  }
}

export interface ReplayPlan {
  record: DlqRecord;
  offset: string;
}

/** A DLQ record that holds its source topic and its whole original record: not one whose value, key or headers were cut. */
export function isReplayable(value: unknown): value is DlqRecord {
  const v = value as DlqRecord | null;
  return !!v && typeof v === 'object' && typeof v.topic === 'string' && (typeof v.value === 'string' || v.value === null) && isWholeDlqRecord(v);
}

/**
 * The DLQ records to replay, oldest first: those whose source topic contains `topicFilter`,
 * at most `limit`. Skipped: what is not replayable (re-publishing part of a value would
 * only dead-letter it again).
 */
export async function dlqToReplay(
  kafka: KafkaConnection,
  dlqTopic: string,
  topicFilter?: string,
  limit?: number,
): Promise<{ plan: ReplayPlan[]; skipped: number }> {
  const messages = await readRange(kafka, dlqTopic, { groupPrefix: 'switchyard-cli-dlq', limit: 1_000_000, timeoutMs: 30000 });
  let skipped = 0;
  const plan: ReplayPlan[] = [];
  for (const message of messages.sort((a, b) => Number(a.timestamp) - Number(b.timestamp))) {
    const record = parseJson(message.value);
    if (!isReplayable(record)) {
      skipped++;
      continue;
    }
    if (topicFilter !== undefined && !record.topic.includes(topicFilter)) continue;
    if (limit !== undefined && plan.length >= limit) break;
    plan.push({ record, offset: `${message.partition}@${message.offset}` });
  }
  return { plan, skipped };
}

/**
 * Re-publishes each record's original key, value and headers to its source topic with an
 * idempotent producer and the services' partitioner, so a replayed record lands on the
 * partition its key always maps to.
 */
export async function replay(kafka: KafkaConnection, plan: ReplayPlan[]): Promise<number> {
  if (!plan.length) return 0;
  const byTopic = new Map<string, ReplayPlan[]>();
  for (const item of plan) byTopic.set(item.record.topic, [...(byTopic.get(item.record.topic) ?? []), item]);
  await kafka.sendOnce(
    [...byTopic].map(([topic, items]) => ({
      topic,
      messages: items.map(({ record }) => ({ key: record.key, value: record.value, headers: record.headers ?? {} })),
    })),
  );
  return plan.length;
}
