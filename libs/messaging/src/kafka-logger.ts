import { Logger } from '@nestjs/common';
import { logLevel, LogEntry } from 'kafkajs';

/** Routes kafkajs logs into the service's structured logger instead of stdout JSON of its own. */
export function kafkaLogCreator() {
  const logger = new Logger('kafkajs');
  return ({ namespace, level, log }: LogEntry) => {
    const { message, ...extra } = log;
    const line = { namespace, ...extra };
    if (level === logLevel.ERROR) logger.error(line, message);
    else if (level === logLevel.WARN) logger.warn(line, message);
    else logger.debug?.(line, message);
  };
}
