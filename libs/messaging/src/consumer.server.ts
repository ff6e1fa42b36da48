import { Logger } from '@nestjs/common';
import { CustomTransportStrategy, Server } from '@nestjs/microservices';
import { Consumer, ConsumerConfig, EachBatchPayload, Producer, ProducerConfig, TopicMessages } from 'kafkajs';
import { isObservable, lastValueFrom } from 'rxjs';
import { BackoffOptions } from '@switchyard/runtime';
import { BatchOutcome, InboundBatch, InboundMessage, inboundMessage, Rejection } from './batch';
import { OutboundMessage } from './batching-producer';
import { recordingPartitioner } from './complete-send';
import { ConsumerMonitor, consumerMetrics } from './consumer-monitor';
import { deadLetterMessage } from './dead-letter';
import { classifyFailure, describeError, FailureKind, isGroupError } from './failures';
import type { OffsetLookups } from './kafka-connection';
import { javaCompatiblePartitioner } from './partitioner';
import { isolatePoison } from './poison';
import { commitInTransaction, isCommitFailure, isTransactionBroken } from './transactional-commit';

export interface ConsumerServerOptions {
  /** Makes the group's consumer and, for a transactional server, its producer. */
  kafka: { consumer: (config: ConsumerConfig) => Consumer; producer: (config: ProducerConfig) => Producer };
  /** The connection's shared admin lookups. */
  offsets: OffsetLookups;
  groupId: string;
  /** Handler pattern (a logical topic key such as `requests`) → physical topic. */
  topics: Record<string, string>;
  dlqTopic: string;
  publish: (topic: string, messages: OutboundMessage[]) => Promise<void>;
  /** @default 10000 */
  sessionTimeoutMs?: number;
  /** @default 1000 */
  heartbeatIntervalMs?: number;
  /** Permanent failures of one message before it goes to the DLQ. @default 5 */
  poisonAttempts?: number;
  /** Delays between retries of a failed batch. @default {baseMs: 100, maxMs: 5000} */
  retry?: BackoffOptions;
  /** No progress for this long on a partition with lag makes the consumer not ready. @default 60000 */
  stallMs?: number;
  /** How often lag is sampled. @default 10000 */
  lagIntervalMs?: number;
  /** Where `/readyz` checks are registered (the service's HealthRegistry). */
  health?: { register: (name: string, check: () => Promise<void>) => void };
  /**
   * Set to produce a batch's outputs, DLQ records and offsets in one Kafka transaction,
   * so a crash never leaves outputs visible to read-committed consumers without the
   * offsets that produced them. Stable per instance, so a restart fences its zombie.
   */
  transactionalId?: string;
}

/**
 * Where the messages handed to a handler start reading the partition: the batch's fetch
 * offset (below its first message when aborted or control records came first) for the
 * batch's first messages; a later part of a split batch starts at its own first message.
 */
export function readFrom(fetchedOffset: string | undefined, batchFirstOffset: string | undefined, firstOffset: string): string {
  return fetchedOffset !== undefined && firstOffset === batchFirstOffset ? fetchedOffset : firstOffset;
}

/**
 * A NestJS microservice transport that hands whole Kafka batches to `@EventPattern`
 * handlers, so they can batch their Redis and Kafka work, and commits a batch's offsets
 * only after the handler has produced its outputs and the DLQ has its rejects. With a
 * `transactionalId`, outputs, DLQ records and offsets commit in one Kafka transaction
 * (`commitInTransaction`).
 *
 * A failed batch is retried here, not by kafkajs: `isolatePoison` retries transient
 * errors for as long as they last and isolates the message a permanent error comes from,
 * which goes to the DLQ with the reason and the count; its offset is committed (in the
 * transaction, for a transactional server) and the rest of the batch goes on. If the DLQ
 * write fails, nothing is committed and kafkajs retries the batch.
 */
export class KafkaConsumerServer extends Server implements CustomTransportStrategy {
  private readonly log = new Logger(KafkaConsumerServer.name);
  private consumer?: Consumer;
  private producer?: Producer;
  /** Set when the transactional producer must be replaced before the next attempt. */
  private producerBroken = false;
  private monitor?: ConsumerMonitor;
  private readonly patternByTopic: Map<string, string>;
  private readonly poisonAttempts: number;

  constructor(private readonly options: ConsumerServerOptions) {
    super();
    this.patternByTopic = new Map(Object.entries(options.topics).map(([pattern, topic]) => [topic, pattern]));
    this.poisonAttempts = options.poisonAttempts ?? 5;
  }

  async listen(callback: (error?: unknown) => void): Promise<void> {
    try {
      const { groupId } = this.options;
      const consumer = this.options.kafka.consumer({
        groupId,
        sessionTimeout: this.options.sessionTimeoutMs ?? 10000,
        heartbeatInterval: this.options.heartbeatIntervalMs ?? 1000,
        allowAutoTopicCreation: false,
      });
      this.consumer = consumer;
      if (this.options.transactionalId) {
        this.producer = this.transactionalProducer(this.options.transactionalId);
        await this.producer.connect();
      }
      const topics = [...this.patternByTopic.keys()].filter((topic) => this.getHandlerByPattern(this.patternByTopic.get(topic)!));
      const monitor = new ConsumerMonitor({
        offsets: this.options.offsets,
        groupId,
        topics,
        stuckAttempts: this.poisonAttempts,
        stallMs: this.options.stallMs ?? 60000,
        intervalMs: this.options.lagIntervalMs ?? 10000,
      });
      this.monitor = monitor;
      this.watch(consumer, monitor);
      this.options.health?.register(`consumer:${groupId}`, async () => {
        const problems = monitor.problems();
        if (problems.length) throw new Error(problems.join('; '));
      });
      await consumer.connect();
      await consumer.subscribe({ topics, fromBeginning: true });
      await consumer.run({
        eachBatchAutoResolve: false,
        // A transactional batch commits its offsets inside its transaction.
        autoCommit: !this.producer,
        eachBatch: (payload) => this.handleBatch(payload),
      });
      monitor.start();
      this.log.log({ groupId, topics }, 'consuming');
      callback();
    } catch (error) {
      callback(error);
    }
  }

  private transactionalProducer(transactionalId: string): Producer {
    return this.options.kafka.producer({
      transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: 15000,
      allowAutoTopicCreation: false,
      createPartitioner: recordingPartitioner(javaCompatiblePartitioner),
    });
  }

  /**
   * A new transactional producer with the same id: its InitProducerId makes the
   * coordinator finish the transaction the old one left (rolled forward if its commit was
   * prepared, else aborted) and fences the old one. Then whatever the group has committed
   * is the truth, and `processOnce` skips the messages it covers.
   */
  private async replaceTransactionalProducer(): Promise<void> {
    const old = this.producer!;
    void old.disconnect().catch(() => undefined);
    const producer = this.transactionalProducer(this.options.transactionalId!);
    await producer.connect();
    this.producer = producer;
    this.producerBroken = false;
    this.log.warn(
      { groupId: this.options.groupId, transactionalId: this.options.transactionalId },
      'replaced the transactional producer after a failed transaction',
    );
  }

  /** The group's committed offset of one partition (the next offset to read), or -1. */
  private async committedOffset(topic: string, partition: number): Promise<bigint> {
    const [entry] = await this.options.offsets.committedOffsets(this.options.groupId, [topic]);
    return BigInt(entry?.partitions.find((p) => p.partition === partition)?.offset ?? '-1');
  }

  /** The partition's log start offset (its low watermark). */
  private async logStartOffset(topic: string, partition: number): Promise<string> {
    const found = (await this.options.offsets.topicOffsets(topic)).find((p) => p.partition === partition);
    if (!found) throw new Error(`partition ${topic}/${partition} not found`);
    return found.low;
  }

  /** Rebalances and crashes in the log, crashes on /metrics, assignments and fatal crashes to the monitor. */
  private watch(consumer: Consumer, monitor: ConsumerMonitor): void {
    const { groupId } = this.options;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      monitor.assigned(payload.memberAssignment);
      this.log.log(
        { groupId, memberId: payload.memberId, isLeader: payload.isLeader, assignment: payload.memberAssignment, durationMs: payload.duration },
        'joined the group',
      );
    });
    consumer.on(consumer.events.REBALANCING, ({ payload }) => this.log.log({ groupId, memberId: payload.memberId }, 'the group is rebalancing'));
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      consumerMetrics.crashes.inc({ group: groupId, restart: String(payload.restart) });
      this.log.error(
        { groupId, restart: payload.restart, error: describeError(payload.error) },
        payload.restart ? 'consumer crashed; kafkajs restarts it' : 'consumer crashed for good',
      );
      if (!payload.restart) monitor.crashedForGood(payload.error);
    });
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (!batch.messages.length) return;
    const { topic, partition } = batch;
    const { groupId } = this.options;
    await isolatePoison(
      batch.messages.map((message) => inboundMessage(topic, partition, message)),
      {
        process: (messages) => this.processOnce(payload, messages),
        judge: (error) => this.judge(error),
        deadLetter: (message, reason, attempts) => this.deadLetter(payload, message, reason, attempts),
        failed: (messages, { kind, reason, attempts }) => {
          consumerMetrics.failures.inc({ group: groupId, topic, kind });
          this.monitor?.failed(topic, partition, messages[0].offset, attempts, reason);
          this.log.warn(
            { groupId, topic, partition, offset: messages[0].offset, messages: messages.length, kind, attempts, error: reason },
            'batch failed; retrying',
          );
        },
        wait: (ms) => this.pause(payload, ms),
        active: () => payload.isRunning() && !payload.isStale(),
      },
      { poisonAttempts: this.poisonAttempts, backoff: this.options.retry },
    );
  }

  /** How a failure counts; errors of the group, and of a plain offset commit, go to kafkajs unchanged. */
  private judge(error: unknown): FailureKind {
    if (isTransactionBroken(error) && this.producer) this.producerBroken = true;
    if (isGroupError(error) || (isCommitFailure(error) && !this.producer)) throw error;
    // A broken transaction or a failed replacement is the infrastructure's fault, never the message's.
    return isTransactionBroken(error) || this.producerBroken ? 'transient' : classifyFailure(error);
  }

  /** One attempt at `messages`: a broken transactional producer replaced first, then handler, outputs and commit. */
  private async processOnce(payload: EachBatchPayload, messages: InboundMessage[]): Promise<void> {
    if (this.producerBroken) {
      await this.replaceTransactionalProducer();
      const { topic, partition } = payload.batch;
      // A commit whose answer was lost may have happened: never produce those outputs twice.
      const next = await this.committedOffset(topic, partition);
      const done = messages.filter((m) => BigInt(m.offset) < next);
      if (done.length) {
        payload.resolveOffset(done[done.length - 1].offset);
        this.monitor?.progressed(topic, partition);
        this.log.warn(
          { groupId: this.options.groupId, topic, partition, committed: next.toString(), skipped: done.length },
          'the failed transaction had committed; skipping what it covered',
        );
        messages = messages.slice(done.length);
        if (!messages.length) return;
      }
    }
    await this.process(payload, messages);
  }

  /** Waits `ms`, heartbeating, and stops early once the consumer stops or loses the partition. */
  private async pause(payload: EachBatchPayload, ms: number): Promise<void> {
    const step = Math.max(50, Math.min(ms, this.options.heartbeatIntervalMs ?? 1000));
    for (let waited = 0; waited < ms && payload.isRunning() && !payload.isStale(); waited += step) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(step, ms - waited)));
      // A rebalance shows as isStale() on the next check; the heartbeat's own error adds nothing.
      await payload.heartbeat().catch(() => undefined);
    }
  }

  /** Handler, outputs and rejects, then the offset after the last message. */
  private async process(payload: EachBatchPayload, messages: InboundMessage[]): Promise<void> {
    const { batch, heartbeat } = payload;
    const handler = this.getHandlerByPattern(this.patternByTopic.get(batch.topic)!)!;
    // kafkajs keeps the fetch offset on its Batch, untyped.
    const fetchedOffset = (batch as typeof batch & { fetchedOffset?: string }).fetchedOffset;
    const result = await handler({
      topic: batch.topic,
      partition: batch.partition,
      messages,
      readFrom: readFrom(fetchedOffset, batch.messages[0]?.offset, messages[0].offset),
      logStartOffset: () => this.logStartOffset(batch.topic, batch.partition),
      heartbeat,
    } satisfies InboundBatch);
    const outcome: BatchOutcome | undefined = isObservable(result) ? await lastValueFrom(result, { defaultValue: undefined }) : result;
    if (outcome?.rewindTo !== undefined) {
      this.consumer!.seek({ topic: batch.topic, partition: batch.partition, offset: outcome.rewindTo });
      this.log.warn(
        { groupId: this.options.groupId, topic: batch.topic, partition: batch.partition, from: messages[0].offset, to: outcome.rewindTo },
        'the handler asked to read the partition again',
      );
      return;
    }
    const topicMessages: TopicMessages[] = (outcome?.outputs ?? []).filter((output) => output.messages.length);
    const rejected = outcome?.rejected ?? [];
    if (rejected.length) topicMessages.push({ topic: this.options.dlqTopic, messages: this.deadLetters(rejected) });
    await this.produceAndCommit(payload, messages[messages.length - 1].offset, topicMessages);
    await outcome
      ?.afterCommit?.()
      .catch((error: Error) =>
        this.log.warn({ groupId: this.options.groupId, topic: batch.topic, partition: batch.partition, error: error.message }, 'after-commit step failed'),
      );
    if (rejected.length) {
      consumerMetrics.deadLettered.inc({ group: this.options.groupId, topic: batch.topic, cause: 'invalid' }, rejected.length);
      this.log.warn({ count: rejected.length, first: rejected[0].reason }, 'sent messages to the DLQ');
    }
  }

  /** A poison message to the DLQ with its offset committed; throws (nothing committed) if the DLQ write fails. */
  private async deadLetter(payload: EachBatchPayload, message: InboundMessage, reason: string, attempts: number): Promise<void> {
    const error = `failed ${attempts} times: ${reason}`;
    try {
      await this.produceAndCommit(payload, message.offset, [
        { topic: this.options.dlqTopic, messages: this.deadLetters([{ message, reason: error }], attempts) },
      ]);
    } catch (failure) {
      if (isGroupError(failure)) throw failure;
      if (isTransactionBroken(failure) && this.producer) this.producerBroken = true;
      // Nothing committed; a plain error makes kafkajs retry the batch (and restart the consumer if that fails), never give up on it.
      throw new Error(`could not write poison message ${message.topic}/${message.partition}@${message.offset} to the DLQ: ${describeError(failure)}`);
    }
    consumerMetrics.deadLettered.inc({ group: this.options.groupId, topic: message.topic, cause: 'poison' });
    this.log.error(
      { groupId: this.options.groupId, topic: message.topic, partition: message.partition, offset: message.offset, key: message.key, attempts, error: reason },
      'poison message sent to the DLQ; moving on',
    );
  }

  private async produceAndCommit(payload: EachBatchPayload, lastOffset: string, topicMessages: TopicMessages[]): Promise<void> {
    const { topic, partition } = payload.batch;
    if (this.producer) {
      await commitInTransaction(this.producer, {
        groupId: this.options.groupId,
        topic,
        partition,
        lastOffset,
        topicMessages,
        onResend: (missing) => this.log.warn({ missing }, 'kafkajs reported partitions as sent that it never sent (leader moved); sending them again'),
      });
    } else await Promise.all(topicMessages.map(({ topic: to, messages }) => this.options.publish(to, messages as OutboundMessage[])));
    payload.resolveOffset(lastOffset);
    this.monitor?.progressed(topic, partition);
  }

  private deadLetters(rejected: Rejection[], attempts?: number): OutboundMessage[] {
    const failedAt = new Date().toISOString();
    return rejected.map(({ message, reason }) => deadLetterMessage(message, { reason, consumerGroup: this.options.groupId, failedAt, attempts }));
  }

  /** Leaves the group (kafkajs finishes the batch in hand and commits first), so the partitions move at once. */
  async close(): Promise<void> {
    await this.monitor?.stop();
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
