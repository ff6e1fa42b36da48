import { ClassConstructor } from 'class-transformer';
import { parseAndValidate } from '@switchyard/contracts';
import { recordsSkipped } from '@switchyard/runtime';
import { InboundMessage, Rejection } from './batch';

export interface Accepted<T> {
  message: InboundMessage;
  value: T;
}

/**
 * Splits a batch into valid contract instances and DLQ rejections. `check` adds a rule the
 * class cannot express; it answers the reason a valid-looking value is still refused.
 */
export function parseBatch<T extends object>(
  cls: ClassConstructor<T>,
  messages: InboundMessage[],
  what: string,
  check: (value: T) => string | undefined = () => undefined,
): { accepted: Accepted<T>[]; rejected: Rejection[] } {
  const accepted: Accepted<T>[] = [];
  const rejected: Rejection[] = [];
  for (const message of messages) {
    const parsed = parseAndValidate(cls, message.value);
    const reason = parsed.ok ? check(parsed.value) : parsed.problems.join('; ');
    if (parsed.ok && reason === undefined) accepted.push({ message, value: parsed.value });
    else rejected.push({ message, reason: `invalid ${what}: ${reason}` });
  }
  return { accepted, rejected };
}

/**
 * What a rebuild does with the records `parseBatch` refused: skips them, counted and
 * logged with their reasons. The live consumer dead-lettered each already; a rebuild
 * must neither write it to the DLQ again nor stop on it.
 */
export function skipRejected(rejected: Rejection[], reader: string, logger: { warn: (fields: object, message: string) => void }): void {
  for (const { message, reason } of rejected) {
    recordsSkipped.inc({ reader, topic: message.topic });
    logger.warn({ reader, topic: message.topic, partition: message.partition, offset: message.offset, reason }, 'skipped a record that is not valid');
  }
}
