import type { IHeaders, KafkaMessage } from 'kafkajs';
import type { OutboundMessage } from './batching-producer';

/** A Kafka record as every reader of ours sees it: its coordinates, key and headers as text, value as bytes. */
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
  /**
   * Runs once the batch's outputs and offsets are committed (its transaction, on a
   * transactional server), so what the batch did can no longer be redelivered: the joiner
   * compacts the pairs it completed. Its failure is logged; the batch stays committed.
   */
  afterCommit?: () => Promise<void>;
}

/** Header values as text; a header sent more than once keeps its first value, one without a value is left out. */
function headersOf(headers: IHeaders | undefined): Record<string, string> {
  const text: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) text[name] = first.toString();
  }
  return text;
}

/** The one conversion of a kafkajs message into the record every reader gets. */
export function inboundMessage(topic: string, partition: number, message: KafkaMessage): InboundMessage {
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
