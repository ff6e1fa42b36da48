import { Logger } from '@nestjs/common';
import { logLevel, LogEntry } from 'kafkajs';

/**
 * Response errors kafkajs logs at ERROR although it retries them itself: the transaction
 * coordinator answers CONCURRENT_TRANSACTIONS while the previous commit of the same
 * transactional id is still completing, which is routine for a joiner committing batch
 * after batch. If the retries run out, the caller gets the error and logs it.
 */
const RETRIED_BY_KAFKAJS = new Set(['The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing']);

/** Routes kafkajs logs into the service's structured logger instead of stdout JSON of its own. */
export function kafkaLogCreator() {
  const logger = new Logger('kafkajs');
  return ({ namespace, level, log }: LogEntry) => {
    const { message, ...extra } = log;
    const line = { namespace, ...extra };
    const retried = typeof extra.error === 'string' && RETRIED_BY_KAFKAJS.has(extra.error);
    if (level === logLevel.ERROR && !retried) logger.error(line, message);
    else if (level === logLevel.WARN) logger.warn(line, message);
    else logger.debug?.(line, message);
  };
}
