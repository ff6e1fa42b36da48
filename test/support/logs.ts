import { join } from 'node:path';
import { testLogDir } from './test-logs';

/**
 * The log file of a service the running test file starts (`.test-logs/<run>/<test file>/<name>.log`).
 * Services in this process share one logger (nestjs-pino keeps the first one it builds), so they share one file.
 */
export function serviceLogFile(name: string): string {
  return join(testLogDir(expect.getState().testPath!), `${name}.log`);
}
