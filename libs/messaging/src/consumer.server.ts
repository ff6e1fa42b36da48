import { Logger } from '@nestjs/common';
import { CustomTransportStrategy, Server } from '@nestjs/microservices';
import { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage, Producer, TopicMessages } from 'kafkajs';
import { isObservable, lastValueFrom } from 'rxjs';
import { javaCompatiblePartitioner } from './partitioner';
import { recordingPartitioner, sendBatchCompletely } from './complete-send';
import { MAX_REQUEST_BYTES, MAX_REQUEST_MESSAGES, messageSize, OutboundMessage } from './batching-producer';
import { ConsumerMonitor, consumerMetrics } from './consumer-monitor';
import { deadLetterMessage } from './dead-letter';
import { BackoffOptions, backoffMs, classifyFailure, describeError, isGroupError } from './failures';

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
  /**
   * Every record of the partition from this offset up to the last message is in
   * `messages` or was left out by Kafka (aborted transactions, control records): the
   * offset the batch was fetched from, so it can be below the first message's.
   */
  readFrom: string;
  /** The partition's first offset still in the log (retention removed the ones before). */
  logStartOffset: () => Promise<string>;
  /** Long handlers call this so the group does not think the member died. */
  heartbeat: () => Promise<void>;
}

/** What a batch handler returns: the messages it refused, with reasons, and what to produce. */
export interface BatchOutcome {
  rejected?: Rejection[];
  /** Written before the batch commits; in one transaction with its offsets when the server is transactional. */
  outputs?: { topic: string; messages: OutboundMessage[] }[];
  /**
   * Set when the handler did nothing with the batch and wants the partition read again
   * from this offset: nothing of the batch is committed (outputs and rejects are ignored),
   * and the group's offset moves there when kafkajs next fetches the partition.
   */
  rewindTo?: string;
}

export interface ConsumerServerOptions {
  kafka: Kafka;
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
 * Where the messages handed to a handler start reading the partition: the batch's fetch
 * offset (below its first message when aborted or control records came first) for the
 * batch's first messages; a later part of a split batch starts at its own first message.
 */
export function readFrom(fetchedOffset: string | undefined, batchFirstOffset: string | undefined, firstOffset: string): string {
  return fetchedOffset !== undefined && firstOffset === batchFirstOffset ? fetchedOffset : firstOffset;
}

/** Marks errors of the offset commit: never a message's fault, handed back to kafkajs as they are. */
const COMMIT_FAILED = Symbol('commit failed');

const markCommitError = (error: unknown): unknown => {
  if (error && typeof error === 'object') (error as Record<symbol, boolean>)[COMMIT_FAILED] = true;
  return error;
};

/**
 * Marks errors after which the transactional producer cannot be trusted: beginning,
 * aborting, sending offsets or committing failed (a broker died mid-commit, say), and
 * kafkajs's state machine is left in COMMITTING or ABORTING for good. Never the message's
 * fault: the producer is replaced and the batch retried.
 */
const TRANSACTION_BROKEN = Symbol('transaction broken');

const markTransactionBroken = (error: unknown): unknown => {
  if (error && typeof error === 'object') (error as Record<symbol, boolean>)[TRANSACTION_BROKEN] = true;
  return error;
};

const flagged = (error: unknown, flag: symbol): boolean => !!error && typeof error === 'object' && !!(error as Record<symbol, boolean>)[flag];

type Attempted = { result: 'done' } | { result: 'stopped' } | { result: 'failed'; reason: string; attempts: number };

/**
 * A NestJS microservice transport that hands whole Kafka batches to `@EventPattern`
 * handlers, so they can batch their Redis and Kafka work, and commits a batch's offsets
 * only after the handler has produced its outputs and the DLQ has its rejects. With a
 * `transactionalId`, outputs, DLQ records and offsets commit in one Kafka transaction.
 *
 * A failed batch is retried here, with capped exponential backoff and jitter, not by
 * kafkajs. Transient errors (see `classifyFailure`) are retried for as long as they last.
 * A permanent error retries the batch a couple of times, then its messages one by one:
 * the message that fails alone until it has failed `poisonAttempts` times goes to the
 * DLQ with the reason and the count, its offset is committed (in the transaction, for a
 * transactional server), and the rest of the batch goes on. If the DLQ write fails,
 * nothing is committed and kafkajs retries the batch.
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
        kafka: this.options.kafka,
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
   * is the truth, and `attempt` skips the messages it covers.
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
    const admin = this.options.kafka.admin();
    await admin.connect();
    try {
      const [entry] = await admin.fetchOffsets({ groupId: this.options.groupId, topics: [topic] });
      return BigInt(entry?.partitions.find((p) => p.partition === partition)?.offset ?? '-1');
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** The partition's log start offset (its low watermark). */
  private async logStartOffset(topic: string, partition: number): Promise<string> {
    const admin = this.options.kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      const found = offsets.find((p) => p.partition === partition);
      if (!found) throw new Error(`partition ${topic}/${partition} not found`);
      return found.low;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
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
    await this.handleMessages(
      payload,
      batch.messages.map((message) => inbound(batch.topic, batch.partition, message)),
    );
  }

  /**
   * The batch, retried while it fails; on a permanent failure its messages one by one
   * until the culprit is found and dead-lettered, then the rest as a batch again.
   */
  private async handleMessages(payload: EachBatchPayload, messages: InboundMessage[]): Promise<void> {
    const alone = messages.length === 1;
    // A batch that keeps failing is split early: only a message failing alone is poison.
    const batchLimit = alone ? this.poisonAttempts : Math.max(1, Math.min(2, this.poisonAttempts - 1));
    const first = await this.attempt(payload, messages, batchLimit, 0);
    if (first.result !== 'failed') return;
    if (alone) return this.deadLetter(payload, messages[0], first.reason, first.attempts);
    for (let i = 0; i < messages.length; i++) {
      const single = await this.attempt(payload, [messages[i]], this.poisonAttempts, first.attempts);
      if (single.result === 'stopped') return;
      if (single.result === 'failed') {
        await this.deadLetter(payload, messages[i], single.reason, single.attempts);
        if (i + 1 < messages.length) await this.handleMessages(payload, messages.slice(i + 1));
        return;
      }
    }
  }

  /**
   * Processes `messages` until they are done, or a permanent error has been counted
   * `limit` times (counting `already` failures from an earlier batch attempt, and at least
   * one here), or the consumer stops or loses the partition. Transient errors retry without
   * limit. Errors of the group or of the offset commit go to kafkajs unchanged.
   */
  private async attempt(payload: EachBatchPayload, batchMessages: InboundMessage[], limit: number, already: number): Promise<Attempted> {
    let messages = batchMessages;
    const { topic, partition } = payload.batch;
    const head = messages[0];
    let permanent = already;
    let failures = 0;
    for (;;) {
      if (!payload.isRunning() || payload.isStale()) return { result: 'stopped' };
      try {
        if (this.producerBroken) {
          await this.replaceTransactionalProducer();
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
            if (!messages.length) return { result: 'done' };
          }
        }
        await this.process(payload, messages);
        return { result: 'done' };
      } catch (error) {
        if (flagged(error, TRANSACTION_BROKEN) && this.producer) this.producerBroken = true;
        if (isGroupError(error) || (flagged(error, COMMIT_FAILED) && !this.producer)) throw error;
        // A broken transaction or a failed replacement is the infrastructure's fault, never the message's.
        const kind = flagged(error, TRANSACTION_BROKEN) || this.producerBroken ? 'transient' : classifyFailure(error);
        const reason = describeError(error);
        failures++;
        if (kind === 'permanent') permanent++;
        consumerMetrics.failures.inc({ group: this.options.groupId, topic, kind });
        this.monitor?.failed(topic, partition, head.offset, already + failures, reason);
        this.log.warn(
          { groupId: this.options.groupId, topic, partition, offset: head.offset, messages: messages.length, kind, attempts: failures, error: reason },
          'batch failed; retrying',
        );
        if (kind === 'permanent' && permanent >= limit) return { result: 'failed', reason, attempts: permanent };
        await this.pause(payload, backoffMs(failures, this.options.retry));
      }
    }
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
      if (flagged(failure, TRANSACTION_BROKEN) && this.producer) this.producerBroken = true;
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
    const { batch } = payload;
    if (this.producer) await this.commitInTransaction(this.producer, batch.topic, batch.partition, lastOffset, topicMessages);
    else await Promise.all(topicMessages.map(({ topic, messages }) => this.options.publish(topic, messages as OutboundMessage[])));
    payload.resolveOffset(lastOffset);
    this.monitor?.progressed(batch.topic, batch.partition);
  }

  private async commitInTransaction(producer: Producer, topic: string, partition: number, lastOffset: string, topicMessages: TopicMessages[]): Promise<void> {
    const transaction = await producer.transaction().catch((error) => Promise.reject(markTransactionBroken(error)));
    try {
      for (const chunk of produceRequests(topicMessages)) {
        await sendBatchCompletely(
          (b) => transaction.sendBatch(b),
          { topicMessages: chunk },
          (missing) => this.log.warn({ missing }, 'kafkajs reported partitions as sent that it never sent (leader moved); sending them again'),
        );
      }
    } catch (error) {
      // The output's own error (too large, say) is judged as such; an abort that fails leaves the producer unusable.
      await transaction.abort().catch(() => void markTransactionBroken(error));
      throw error;
    }
    try {
      const offset = (BigInt(lastOffset) + 1n).toString();
      await retryWhileTransactionSettles(() =>
        transaction.sendOffsets({ consumerGroupId: this.options.groupId, topics: [{ topic, partitions: [{ partition, offset }] }] }),
      );
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(() => undefined);
      throw markTransactionBroken(markCommitError(error));
    }
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
