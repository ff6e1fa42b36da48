import { ClassConstructor } from 'class-transformer';
import { parseAndValidate } from '@switchyard/contracts';
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
