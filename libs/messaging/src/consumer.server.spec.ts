import type { TopicMessages } from 'kafkajs';
import { KafkaJSNonRetriableError, KafkaJSProtocolError } from 'kafkajs';
import { produceRequests, readFrom, retryWhileTransactionSettles } from './consumer.server';

describe(produceRequests.name, () => {
  const messages = (n: number, bytes: number) => Array.from({ length: n }, (_, i) => ({ key: `k${i}`.padEnd(4, '-'), value: 'x'.repeat(bytes - 4) }));

  it('keeps every message, in order, in requests of at most 1000 messages and about 512 KB', () => {
    const input: TopicMessages[] = [
      { topic: 'joined', messages: messages(2500, 100) },
      { topic: 'dlq', messages: messages(3, 100) },
      { topic: 'big', messages: messages(300, 4096) },
    ];
    const requests = [...produceRequests(input)];
    for (const request of requests) {
      const all = request.flatMap((t) => t.messages);
      expect(all.length).toBeLessThanOrEqual(1000);
      expect(all.reduce((a, m) => a + String(m.key).length + String(m.value).length, 0)).toBeLessThanOrEqual(512 * 1024);
    }
    const flattened = (list: TopicMessages[]) => list.flatMap((t) => t.messages.map((m) => `${t.topic}/${String(m.key)}`));
    expect(flattened(requests.flat())).toEqual(flattened(input));
  });

  it('yields nothing for no messages', () => {
    expect([...produceRequests([{ topic: 'joined', messages: [] }])]).toEqual([]);
  });
});

describe(retryWhileTransactionSettles.name, () => {
  // What kafkajs throws from sendOffsets while the previous commit's markers are written (retry/index.js).
  const concurrent = () => {
    const refusal = new KafkaJSProtocolError(
      Object.assign(new Error('another concurrent operation on the same transaction was ongoing'), { type: 'CONCURRENT_TRANSACTIONS', code: 51 }),
    );
    // The typings omit the second argument kafkajs passes.
    const NonRetriable = KafkaJSNonRetriableError as unknown as new (e: Error, meta: { cause: Error }) => KafkaJSNonRetriableError;
    return new NonRetriable(refusal, { cause: refusal });
  };

  it('retries a step refused with CONCURRENT_TRANSACTIONS until it passes', async () => {
    let calls = 0;
    const step = jest.fn(async () => {
      if (++calls < 3) throw concurrent();
      return 'sent';
    });
    await expect(retryWhileTransactionSettles(step, [1, 1, 1])).resolves.toBe('sent');
    expect(step).toHaveBeenCalledTimes(3);
  });

  it('gives up after its delays, with the coordinator error', async () => {
    const step = jest.fn(async () => {
      throw concurrent();
    });
    await expect(retryWhileTransactionSettles(step, [1, 1])).rejects.toThrow(KafkaJSNonRetriableError);
    expect(step).toHaveBeenCalledTimes(3);
  });

  it('does not retry any other error', async () => {
    const step = jest.fn(async () => {
      throw new Error('fenced');
    });
    await expect(retryWhileTransactionSettles(step, [1, 1])).rejects.toThrow('fenced');
    expect(step).toHaveBeenCalledTimes(1);
  });
});

describe(readFrom.name, () => {
  it("is the fetch offset for the batch's first messages, even below the first message (aborted or control records before it)", () => {
    expect(readFrom('0', '3', '3')).toBe('0');
  });

  it("is the first message's own offset for a later part of a split batch, or without a fetch offset", () => {
    expect(readFrom('0', '3', '7')).toBe('7');
    expect(readFrom(undefined, '3', '3')).toBe('3');
  });
});
