import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs';
import { causeChain, classifyFailure, describeError, isGroupError, isRetriable, TransientError } from './failures';

const protocolError = (type: string, retriable: boolean) =>
  new KafkaJSProtocolError(Object.assign(new Error(type.toLowerCase()), { type, code: 1, retriable }));
// The typings omit the second argument kafkajs passes.
const NonRetriable = KafkaJSNonRetriableError as unknown as new (e: Error, meta: { cause: Error }) => KafkaJSNonRetriableError;
const redisReply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });

describe(classifyFailure.name, () => {
  it.each([
    ['a broker connection error', new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092')],
    ['kafkajs retries exhausted', new KafkaJSNumberOfRetriesExceeded(new Error('timeout'), { retryCount: 5, retryTime: 100 } as never)],
    ['a retriable protocol error', protocolError('NOT_LEADER_OR_FOLLOWER', true)],
    ['a refused socket', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' })],
    ['ioredis giving up while disconnected', Object.assign(new Error('Reached the max retries per request limit'), { name: 'MaxRetriesPerRequestError' })],
    ['ioredis with its connection closed', new Error('Connection is closed.')],
    ['Redis loading its data', redisReply('LOADING Redis is loading the dataset in memory')],
    ['a model deadline', Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' })],
    ['undici connect timeout', Object.assign(new Error('Connect Timeout Error'), { code: 'UND_ERR_CONNECT_TIMEOUT' })],
    ['an error marked transient', new TransientError('try later')],
    ['a transient cause under a wrapper', new Error('apply failed', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) })],
  ])('%s is transient', (_what, error) => {
    expect(classifyFailure(error)).toBe('transient');
  });

  it.each([
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'x')")],
    ['a Lua error', redisReply('ERR user_script:3: attempt to compare nil with number')],
    ['a corrupt Redis value', redisReply('WRONGTYPE Operation against a key holding the wrong kind of value')],
    [
      "an event over the broker's size limit",
      new NonRetriable(protocolError('MESSAGE_TOO_LARGE', false), { cause: protocolError('MESSAGE_TOO_LARGE', false) }),
    ],
    ['a non-error value', 'boom'],
    ['nothing', undefined],
  ])('%s is permanent', (_what, error) => {
    expect(classifyFailure(error)).toBe('permanent');
  });
});

describe(isGroupError.name, () => {
  it('recognises rebalances and fencing, also as a cause', () => {
    expect(isGroupError(protocolError('REBALANCE_IN_PROGRESS', false))).toBe(true);
    expect(isGroupError(new NonRetriable(protocolError('PRODUCER_FENCED', false), { cause: protocolError('PRODUCER_FENCED', false) }))).toBe(true);
    expect(isGroupError(protocolError('MESSAGE_TOO_LARGE', false))).toBe(false);
    expect(isGroupError(new Error('boom'))).toBe(false);
  });
});

describe(causeChain.name, () => {
  it('walks an error and its causes, outermost first, and stops at a cause that loops back', () => {
    const inner = Object.assign(new Error('inner'), { code: 'ECONNRESET' });
    const middle = new Error('middle', { cause: inner });
    const outer = new Error('outer', { cause: middle });
    expect([...causeChain(outer)].map((e) => e.message)).toEqual(['outer', 'middle', 'inner']);
    (inner as { cause?: unknown }).cause = outer;
    expect([...causeChain(outer)]).toHaveLength(3);
    expect([...causeChain('not an error')]).toEqual([]);
  });
});

describe(isRetriable.name, () => {
  it("follows kafkajs's own mark", () => {
    expect(isRetriable(protocolError('UNKNOWN_TOPIC_OR_PARTITION', true))).toBe(true);
    expect(isRetriable(protocolError('MESSAGE_TOO_LARGE', false))).toBe(false);
    expect(isRetriable(undefined)).toBe(false);
  });
});

describe(describeError.name, () => {
  it('names the error and its cause', () => {
    expect(describeError(new Error('apply failed', { cause: redisReply('WRONGTYPE wrong kind') }))).toBe(
      'Error: apply failed (cause: ReplyError: WRONGTYPE wrong kind)',
    );
  });

  it('names every cause down the chain, and skips one that repeats its wrapper', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(describeError(new Error('apply failed', { cause: new Error('apply failed', { cause: reset }) }))).toBe('Error: apply failed');
    expect(describeError(new Error('a', { cause: new Error('b', { cause: reset }) }))).toBe('Error: a (cause: Error: b (cause: Error: read ECONNRESET))');
  });
});
