import { KafkaJSNonRetriableError, KafkaJSProtocolError } from 'kafkajs';
import { isBrokenSequence, replicationFor } from './kafka.client';

describe(replicationFor.name, () => {
  it('replicates 3 times with 2 in sync on a cluster of 3 or more, once on a single broker, as configured when set', () => {
    expect(replicationFor(1)).toEqual({ factor: 1 });
    expect(replicationFor(2)).toEqual({ factor: 1 });
    expect(replicationFor(3)).toEqual({ factor: 3, minInsyncReplicas: 2 });
    expect(replicationFor(5)).toEqual({ factor: 3, minInsyncReplicas: 2 });
    expect(replicationFor(3, 1)).toEqual({ factor: 1 });
    expect(replicationFor(1, 3)).toEqual({ factor: 3, minInsyncReplicas: 2 });
  });
});

describe(isBrokenSequence.name, () => {
  const protocol = (type: string) => new KafkaJSProtocolError(Object.assign(new Error(type), { type, code: 45, retriable: false }));
  const NonRetriable = KafkaJSNonRetriableError as unknown as new (e: Error, meta: { cause: Error }) => KafkaJSNonRetriableError;

  it('recognises a refused sequence or producer id, also as a cause', () => {
    expect(isBrokenSequence(protocol('OUT_OF_ORDER_SEQUENCE_NUMBER'))).toBe(true);
    expect(isBrokenSequence(new NonRetriable(protocol('UNKNOWN_PRODUCER_ID'), { cause: protocol('UNKNOWN_PRODUCER_ID') }))).toBe(true);
    expect(isBrokenSequence(protocol('NOT_LEADER_OR_FOLLOWER'))).toBe(false);
    expect(isBrokenSequence(new Error('boom'))).toBe(false);
  });
});
