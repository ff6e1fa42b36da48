import { Logger } from '@nestjs/common';
import { CustomTransportStrategy, Server } from '@nestjs/microservices';
import { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage, Producer, TopicMessages } from 'kafkajs';
import { isObservable, lastValueFrom } from 'rxjs';
import { DlqRecord } from '@switchyard/contracts';
import { javaCompatiblePartitioner } from './partitioner';
import { MAX_REQUEST_BYTES, MAX_REQUEST_MESSAGES, messageSize, OutboundMessage } from './batching-producer';

export interface InboundMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: string;
}

/** A poison message and why; the server writes it to the DLQ before committing. */
export interface Rejection {
  message: InboundMessage;
  reason: string;
}

export interface InboundBatch {
  topic: string;
  partition: number;
  messages: InboundMessage[];
  /** Long handlers call this so the group does not think the member died. */
  heartbeat: () => Promise<void>;
}

/** What a batch handler returns: the messages it refused, with reasons, and what to produce. */
export interface BatchOutcome {
  rejected?: Rejection[];
  /** Written before the batch commits; in one transaction with its offsets when the server is transactional. */
  outputs?: { topic: string; messages: OutboundMessage[] }[];
}

export interface ConsumerServerOptions {
  kafka: Kafka;
  groupId: string;
  /** Handler pattern (a logical topic key such as `requests`) → physical topic. */
  topics: Record<string, string>;
  dlqTopic: string;
  publish: (topic: string, messages: OutboundMessage[]) => Promise<void>;
  /** @default 30000 */
  sessionTimeoutMs?: number;
  /**
   * Set to produce a batch's outputs, DLQ records and offsets in one Kafka transaction,
   * so a crash never leaves outputs visible to read-committed consumers without the
   * offsets that produced them. Stable per instance, so a restart fences its zombie.
   */
  transactionalId?: string;
}

function headersOf(headers: IHeaders | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers ?? {}).flatMap(([name, value]) => (value === undefined ? [] : [[name, String(Array.isArray(value) ? value[0] : value)]])),
  );
}

function inbound(topic: string, partition: number, message: KafkaMessage): InboundMessage {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key?.toString() ?? null,
    value: message.value,
    headers: headersOf(message.headers),
    timestamp: message.timestamp,
  };
}

/** Splits outputs into produce requests of at most MAX_REQUEST_MESSAGES messages and about MAX_REQUEST_BYTES. */
export function* produceRequests(topicMessages: TopicMessages[]): Generator<TopicMessages[]> {
  let request: TopicMessages[] = [];
  let count = 0;
  let bytes = 0;
  for (const { topic, messages } of topicMessages) {
    let current: TopicMessages | undefined;
    for (const message of messages) {
      const size = messageSize(message);
      if (count > 0 && (count >= MAX_REQUEST_MESSAGES || bytes + size > MAX_REQUEST_BYTES)) {
        yield request;
        request = [];
        current = undefined;
        count = 0;
        bytes = 0;
      }
      if (!current) request.push((current = { topic, messages: [] }));
      current.messages.push(message);
      count++;
      bytes += size;
    }
  }
  if (count > 0) yield request;
}

const isConcurrentTransactions = (error: unknown): boolean => {
  const e = error as { type?: string; cause?: unknown } | undefined;
  return e?.type === 'CONCURRENT_TRANSACTIONS' || (e?.cause !== undefined && isConcurrentTransactions(e.cause));
};

/**
 * Runs a transaction step, retrying it while the coordinator answers
 * CONCURRENT_TRANSACTIONS: it does so until the previous commit's markers are written,
 * and a batch with no outputs starts its transaction with AddOffsetsToTxn, which kafkajs
 * (unlike AddPartitionsToTxn) does not retry. Uncaught, the consumer crashed and kafkajs
 * restarted it 2–4 s later: the stalls the regret bench saw. The step changes nothing
 * when refused, so retrying it in the same transaction is safe.
 */
export async function retryWhileTransactionSettles<T>(step: () => Promise<T>, delaysMs: readonly number[] = [10, 20, 50, 100, 200, 500, 1000]): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      if (!isConcurrentTransactions(error) || attempt >= delaysMs.length) throw error;
      await new Promise((resolve) => setTimeout(resolve, delaysMs[attempt]));
    }
  }
}

/**
 * A NestJS microservice transport that hands whole Kafka batches to `@EventPattern`
 * handlers, so they can batch their Redis and Kafka work, and commits a batch's offsets
 * only after the handler has produced its outputs and the DLQ has its rejects. A handler
 * that throws leaves the batch uncommitted; kafkajs retries it with backoff. With a
 * `transactionalId`, outputs, DLQ records and offsets commit in one Kafka transaction.
 */
export class KafkaConsumerServer extends Server implements CustomTransportStrategy {
  private readonly log = new Logger(KafkaConsumerServer.name);
  private consumer?: Consumer;
  private producer?: Producer;
  private readonly patternByTopic: Map<string, string>;

  constructor(private readonly options: ConsumerServerOptions) {
    super();
    this.patternByTopic = new Map(Object.entries(options.topics).map(([pattern, topic]) => [topic, pattern]));
  }

  async listen(callback: (error?: unknown) => void): Promise<void> {
    try {
      const consumer = this.options.kafka.consumer({
        groupId: this.options.groupId,
        sessionTimeout: this.options.sessionTimeoutMs ?? 30000,
        allowAutoTopicCreation: false,
      });
      this.consumer = consumer;
      if (this.options.transactionalId) {
        this.producer = this.options.kafka.producer({
          transactionalId: this.options.transactionalId,
          idempotent: true,
          maxInFlightRequests: 1,
          transactionTimeout: 15000,
          allowAutoTopicCreation: false,
          createPartitioner: javaCompatiblePartitioner,
        });
        await this.producer.connect();
      }
      await consumer.connect();
      const topics = [...this.patternByTopic.keys()].filter((topic) => this.getHandlerByPattern(this.patternByTopic.get(topic)!));
      await consumer.subscribe({ topics, fromBeginning: true });
      await consumer.run({
        eachBatchAutoResolve: false,
        // A transactional batch commits its offsets inside its transaction.
        autoCommit: !this.producer,
        eachBatch: (payload) => this.handleBatch(payload),
      });
      this.log.log({ groupId: this.options.groupId, topics }, 'consuming');
      callback();
    } catch (error) {
      callback(error);
    }
  }

  private async handleBatch({ batch, resolveOffset, heartbeat }: EachBatchPayload): Promise<void> {
    if (!batch.messages.length) return;
    const pattern = this.patternByTopic.get(batch.topic)!;
    const handler = this.getHandlerByPattern(pattern)!;
    const messages = batch.messages.map((message) => inbound(batch.topic, batch.partition, message));
    const result = await handler({ topic: batch.topic, partition: batch.partition, messages, heartbeat } satisfies InboundBatch);
    const outcome: BatchOutcome | undefined = isObservable(result) ? await lastValueFrom(result, { defaultValue: undefined }) : result;
    const topicMessages: TopicMessages[] = (outcome?.outputs ?? []).filter((output) => output.messages.length);
    if (outcome?.rejected?.length) topicMessages.push({ topic: this.options.dlqTopic, messages: this.deadLetters(outcome.rejected) });
    if (this.producer) await this.commitInTransaction(this.producer, batch.topic, batch.partition, batch.lastOffset(), topicMessages);
    else await Promise.all(topicMessages.map(({ topic, messages }) => this.options.publish(topic, messages as OutboundMessage[])));
    if (outcome?.rejected?.length) this.log.warn({ count: outcome.rejected.length, first: outcome.rejected[0].reason }, 'sent messages to the DLQ');
    resolveOffset(batch.lastOffset());
    // No commit call here: with autoCommit on, kafkajs 2.2.4 commits the resolved offset once eachBatch returns; commitOffsetsIfNecessary() was a no-op (no autoCommitInterval/Threshold).
  }

  private async commitInTransaction(producer: Producer, topic: string, partition: number, lastOffset: string, topicMessages: TopicMessages[]): Promise<void> {
    const transaction = await producer.transaction();
    try {
      for (const chunk of produceRequests(topicMessages)) await transaction.sendBatch({ topicMessages: chunk });
      const offset = (BigInt(lastOffset) + 1n).toString();
      await retryWhileTransactionSettles(() =>
        transaction.sendOffsets({ consumerGroupId: this.options.groupId, topics: [{ topic, partitions: [{ partition, offset }] }] }),
      );
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(() => undefined);
      throw error;
    }
  }

  /** Original bytes, headers and coordinates plus the reason, keyed as received. */
  private deadLetters(rejected: Rejection[]): OutboundMessage[] {
    const failedAt = new Date().toISOString();
    return rejected.map(({ message, reason }) => {
      const record: DlqRecord = {
        topic: message.topic,
        partition: message.partition,
        offset: message.offset,
        key: message.key,
        value: message.value?.toString() ?? null,
        headers: message.headers,
        error: reason,
        consumerGroup: this.options.groupId,
        failedAt,
      };
      return { key: message.key, value: JSON.stringify(record) };
    });
  }

  /** kafkajs finishes the batch in hand and commits before it leaves the group. */
  async close(): Promise<void> {
    await this.consumer?.disconnect();
    await this.producer?.disconnect();
  }

  on(): never {
    throw new Error('KafkaConsumerServer does not emit events');
  }

  unwrap<T>(): T {
    return this.consumer as T;
  }
}
