import { topicNames } from '@switchyard/contracts';
import { CliError } from './errors';
import { isReplayable, tailSource } from './kafka';

describe(tailSource.name, () => {
  const topics = topicNames('sy.');

  it('reads decisions from deployment-events, keeping only type "decision" of the deployment asked for', () => {
    const sut = tailSource('decisions', topics, 'churn');
    expect(sut.topic).toBe('sy.deployment-events');
    expect(sut.keep({ type: 'decision', deployment: 'churn' })).toBe(true);
    expect(sut.keep({ type: 'deployment', action: 'weights', deployment: 'churn' })).toBe(false);
    expect(sut.keep({ type: 'decision', deployment: 'other' })).toBe(false);
  });

  it('filters DLQ records by the deployment inside their original value', () => {
    const sut = tailSource('dlq', topics, 'churn');
    expect(sut.topic).toBe('sy.dlq');
    expect(sut.keep({ topic: 'sy.predictions', value: JSON.stringify({ deployment: 'churn' }) })).toBe(true);
    expect(sut.keep({ topic: 'sy.feedback', value: 'not json' })).toBe(false);
    expect(tailSource('dlq', topics).keep('anything')).toBe(true);
  });

  it('refuses an unknown topic as a usage error', () => {
    expect(() => tailSource('everything', topics)).toThrow(CliError);
  });
});

describe(isReplayable.name, () => {
  it('needs a source topic and the whole original record', () => {
    expect(isReplayable({ topic: 'sy.feedback', value: 'x', key: null, headers: {} })).toBe(true);
    expect(isReplayable({ topic: 'sy.feedback', value: null, key: null, headers: {} })).toBe(true);
    expect(isReplayable({ topic: 'sy.feedback', value: 'xx', key: null, headers: {}, valueBytes: 900000 })).toBe(false);
    expect(isReplayable({ topic: 'sy.feedback', value: 'x', key: 'k', headers: {}, keyBytes: 5000 })).toBe(false);
    expect(isReplayable({ topic: 'sy.feedback', value: 'x', key: null, headers: {}, headersBytes: 90000 })).toBe(false);
    expect(isReplayable({ value: 'x' })).toBe(false);
    expect(isReplayable('x')).toBe(false);
  });
});
