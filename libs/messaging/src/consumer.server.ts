import { Logger } from '@nestjs/common';
import { CustomTransportStrategy, Server } from '@nestjs/microservices';
import { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { isObservable, lastValueFrom } from 'rxjs';
import { DlqRecord } from '@switchyard/contracts';
import { OutboundMessage } from './batching-producer';

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

/** What a batch handler returns: the messages it refused, with reasons. */
export interface BatchOutcome {
  rejected?: Rejection[];
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

/**
 * A NestJS microservice transport that hands whole Kafka batches to `@EventPattern`
 * handlers, so they can batch their Redis and Kafka work, and commits a batch's offsets
 * only after the handler has produced its outputs and the DLQ has its rejects. A handler
 * that throws leaves the batch uncommitted; kafkajs retries it with backoff.
 */
export class KafkaConsumerServer extends Server implements CustomTransportStrategy {
  private readonly log = new Logger(KafkaConsumerServer.name);
  private consumer?: Consumer;
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
      await consumer.connect();
      const topics = [...this.patternByTopic.keys()].filter((topic) => this.getHandlerByPattern(this.patternByTopic.get(topic)!));
      await consumer.subscribe({ topics, fromBeginning: true });
      await consumer.run({ eachBatchAutoResolve: false, eachBatch: (payload) => this.handleBatch(payload) });
      this.log.log({ groupId: this.options.groupId, topics }, 'consuming');
      callback();
    } catch (error) {
      callback(error);
    }
  }

  private async handleBatch({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary }: EachBatchPayload): Promise<void> {
    if (!batch.messages.length) return;
    const pattern = this.patternByTopic.get(batch.topic)!;
    const handler = this.getHandlerByPattern(pattern)!;
    const messages = batch.messages.map((message) => inbound(batch.topic, batch.partition, message));
    const result = await handler({ topic: batch.topic, partition: batch.partition, messages, heartbeat } satisfies InboundBatch);
    const outcome: BatchOutcome | undefined = isObservable(result) ? await lastValueFrom(result, { defaultValue: undefined }) : result;
    if (outcome?.rejected?.length) await this.deadLetter(outcome.rejected);
    resolveOffset(batch.lastOffset());
    await commitOffsetsIfNecessary();
  }

  /** Original bytes, headers and coordinates plus the reason, keyed as received. */
  private async deadLetter(rejected: Rejection[]): Promise<void> {
    const failedAt = new Date().toISOString();
    const records = rejected.map(({ message, reason }) => {
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
    await this.options.publish(this.options.dlqTopic, records);
    this.log.warn({ count: rejected.length, first: rejected[0].reason }, 'sent messages to the DLQ');
  }

  /** kafkajs finishes the batch in hand and commits before it leaves the group. */
  async close(): Promise<void> {
    await this.consumer?.disconnect();
  }

  on(): never {
    throw new Error('KafkaConsumerServer does not emit events');
  }

  unwrap<T>(): T {
    return this.consumer as T;
  }
}
