import type { Offsets, ProducerBatch, RecordMetadata, TopicMessages } from 'kafkajs';
import { retry, RetryOptions } from '@switchyard/runtime';
import { MAX_REQUEST_BYTES, MAX_REQUEST_MESSAGES, messageSize } from './batching-producer';
import { sendBatchCompletely } from './complete-send';
import { hasCause } from './failures';

/** The part of a kafkajs transaction a commit uses. */
export interface Transaction {
  sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]>;
  sendOffsets(offsets: Offsets & { consumerGroupId: string }): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
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

const isConcurrentTransactions = (error: unknown): boolean => hasCause(error, (e) => e.type === 'CONCURRENT_TRANSACTIONS');

/** About 2 s in all, the time the coordinator takes to write a commit's markers under load. */
export const TRANSACTION_SETTLE_RETRY: RetryOptions = { attempts: 8, baseMs: 10, maxMs: 1000 };

/**
 * Runs a transaction step, retrying it while the coordinator answers
 * CONCURRENT_TRANSACTIONS: it does so until the previous commit's markers are written,
 * and a batch with no outputs starts its transaction with AddOffsetsToTxn, which kafkajs
 * (unlike AddPartitionsToTxn) does not retry. Uncaught, the consumer crashed and kafkajs
 * restarted it 2–4 s later: the stalls the regret bench saw. The step changes nothing
 * when refused, so retrying it in the same transaction is safe.
 */
export function retryWhileTransactionSettles<T>(step: () => Promise<T>, options: RetryOptions = TRANSACTION_SETTLE_RETRY): Promise<T> {
  return retry(step, { ...options, retryIf: isConcurrentTransactions });
}

/** Marks errors of the offset commit: never a message's fault, handed back to kafkajs as they are. */
const COMMIT_FAILED = Symbol('commit failed');

/**
 * Marks errors after which the transactional producer cannot be trusted: beginning,
 * aborting, sending offsets or committing failed (a broker died mid-commit, say), and
 * kafkajs's state machine is left in COMMITTING or ABORTING for good. Never the message's
 * fault: the producer is replaced and the batch retried.
 */
const TRANSACTION_BROKEN = Symbol('transaction broken');

const mark = (error: unknown, flag: symbol): unknown => {
  if (error && typeof error === 'object') (error as Record<symbol, boolean>)[flag] = true;
  return error;
};

const flagged = (error: unknown, flag: symbol): boolean => !!error && typeof error === 'object' && !!(error as Record<symbol, boolean>)[flag];

export const isCommitFailure = (error: unknown): boolean => flagged(error, COMMIT_FAILED);
export const isTransactionBroken = (error: unknown): boolean => flagged(error, TRANSACTION_BROKEN);

export interface TransactionalCommit {
  groupId: string;
  topic: string;
  partition: number;
  /** The last offset the commit covers (the group's offset becomes the one after). */
  lastOffset: string;
  topicMessages: TopicMessages[];
  /** Told when kafkajs left partitions unwritten and they are sent again (see `sendBatchCompletely`). */
  onResend?: (missing: { topic: string; partitions: number[] }[]) => void;
}

/**
 * Writes `topicMessages` and the group's offset after `lastOffset` in one Kafka
 * transaction: both or neither become visible to read-committed consumers. An output's
 * own error (too large, say) aborts and is thrown as it is; a failure to begin, abort,
 * send the offsets or commit is thrown marked `isTransactionBroken` (the producer must be
 * replaced), the last two also `isCommitFailure`.
 */
export async function commitInTransaction(producer: { transaction(): Promise<Transaction> }, commit: TransactionalCommit): Promise<void> {
  const transaction = await producer.transaction().catch((error) => Promise.reject(mark(error, TRANSACTION_BROKEN)));
  try {
    for (const chunk of produceRequests(commit.topicMessages)) {
      await sendBatchCompletely((b) => transaction.sendBatch(b), { topicMessages: chunk }, commit.onResend);
    }
  } catch (error) {
    await transaction.abort().catch(() => void mark(error, TRANSACTION_BROKEN));
    throw error;
  }
  try {
    const offset = (BigInt(commit.lastOffset) + 1n).toString();
    await retryWhileTransactionSettles(() =>
      transaction.sendOffsets({ consumerGroupId: commit.groupId, topics: [{ topic: commit.topic, partitions: [{ partition: commit.partition, offset }] }] }),
    );
    await transaction.commit();
  } catch (error) {
    await transaction.abort().catch(() => undefined);
    throw mark(mark(error, COMMIT_FAILED), TRANSACTION_BROKEN);
  }
}
