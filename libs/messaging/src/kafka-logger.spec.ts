import { Logger } from '@nestjs/common';
import { logLevel } from 'kafkajs';
import { kafkaLogCreator } from './kafka-logger';

describe('kafkaLogCreator', () => {
  const log = kafkaLogCreator();
  const entry = (level: logLevel, error?: string) => ({
    namespace: 'Connection',
    level,
    label: 'ERROR',
    log: { timestamp: '', message: 'Response AddPartitionsToTxn(key: 24, version: 1)', ...(error && { error }) },
  });
  let error: jest.SpyInstance;
  let debug: jest.SpyInstance;

  beforeEach(() => {
    error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    debug = jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  it('logs kafkajs errors as errors, with their fields', () => {
    log(entry(logLevel.ERROR, 'This server is not the leader for that topic-partition'));
    expect(error).toHaveBeenCalledWith(
      { namespace: 'Connection', timestamp: '', error: 'This server is not the leader for that topic-partition' },
      'Response AddPartitionsToTxn(key: 24, version: 1)',
    );
  });

  it('logs a CONCURRENT_TRANSACTIONS response, which kafkajs retries itself, at debug only', () => {
    log(entry(logLevel.ERROR, 'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing'));
    expect(error).not.toHaveBeenCalled();
    expect(debug).toHaveBeenCalledTimes(1);
  });
});
