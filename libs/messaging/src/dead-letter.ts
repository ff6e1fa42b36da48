import { DlqRecord, MAX_DLQ_HEADERS_CHARS, MAX_DLQ_KEY_CHARS, MAX_DLQ_VALUE_CHARS } from '@switchyard/contracts';
import type { OutboundMessage } from './batching-producer';
import type { InboundMessage } from './batch';

export interface DeadLetterInfo {
  reason: string;
  consumerGroup: string;
  failedAt: string;
  /** Poison messages only. */
  attempts?: number;
}

/** The headers that fit together in MAX_DLQ_HEADERS_CHARS, in order (one too large is left out, not the rest); `bytes` is set when some did not. */
function boundedHeaders(headers: Record<string, string>): { kept: Record<string, string>; bytes?: number } {
  const kept: Record<string, string> = {};
  let chars = 0;
  let whole = true;
  for (const [name, value] of Object.entries(headers)) {
    const size = name.length + value.length;
    if (chars + size > MAX_DLQ_HEADERS_CHARS) {
      whole = false;
      continue;
    }
    kept[name] = value;
    chars += size;
  }
  if (whole) return { kept };
  const bytes = Object.entries(headers).reduce((sum, [name, value]) => sum + Buffer.byteLength(name) + Buffer.byteLength(value), 0);
  return { kept, bytes };
}

/**
 * The DLQ message for a record: its coordinates, text and headers plus why, keyed as
 * received. Value, key and headers are bounded (see MAX_DLQ_VALUE_CHARS), each marked
 * with its original size when cut, so that no record, however large, makes a DLQ
 * write the broker refuses.
 */
export function deadLetterMessage(message: InboundMessage, info: DeadLetterInfo): OutboundMessage {
  const value = message.value?.toString() ?? null;
  const valueCut = value !== null && value.length > MAX_DLQ_VALUE_CHARS;
  const keyCut = message.key !== null && message.key.length > MAX_DLQ_KEY_CHARS;
  const key = keyCut ? message.key!.slice(0, MAX_DLQ_KEY_CHARS) : message.key;
  const headers = boundedHeaders(message.headers);
  const record: DlqRecord = {
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    key,
    value: valueCut ? value.slice(0, MAX_DLQ_VALUE_CHARS) : value,
    headers: headers.kept,
    error: info.reason,
    consumerGroup: info.consumerGroup,
    failedAt: info.failedAt,
    ...(info.attempts !== undefined && { attempts: info.attempts }),
    ...(valueCut && { valueBytes: message.value!.length }),
    ...(keyCut && { keyBytes: Buffer.byteLength(message.key!) }),
    ...(headers.bytes !== undefined && { headersBytes: headers.bytes }),
  };
  return { key, value: JSON.stringify(record) };
}
