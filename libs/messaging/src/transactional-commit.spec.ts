import type { Offsets, ProducerBatch, TopicMessages } from 'kafkajs';
import { KafkaJSNonRetriableError, KafkaJSProtocolError } from 'kafkajs';
import { commitInTransaction, isCommitFailure, isTransactionBroken, produceRequests, retryWhileTransactionSettles, Transaction } from './transactional-commit';

const sleep = async () => undefined;

// What kafkajs throws from sendOffsets while the previous commit's markers are written (retry/index.js).
const concurrent = () => {
  const refusal = new KafkaJSProtocolError(
    Object.assign(new Error('another concurrent operation on the same transaction was ongoing'), { type: 'CONCURRENT_TRANSACTIONS', code: 51 }),
  );
  // The typings omit the second argument kafkajs passes.
  const NonRetriable = KafkaJSNonRetriableError as unknown as new (e: Error, meta: { cause: Error }) => KafkaJSNonRetriableError;
  return new NonRetriable(refusal, { cause: refusal });
};

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
  it('retries a step refused with CONCURRENT_TRANSACTIONS until it passes', async () => {
    let calls = 0;
    const step = jest.fn(async () => {
      if (++calls < 3) throw concurrent();
      return 'sent';
    });
    await expect(retryWhileTransactionSettles(step, { attempts: 4, sleep })).resolves.toBe('sent');
    expect(step).toHaveBeenCalledTimes(3);
  });

  it('gives up after its attempts, with the coordinator error', async () => {
    const step = jest.fn(async () => {
      throw concurrent();
    });
    await expect(retryWhileTransactionSettles(step, { attempts: 3, sleep })).rejects.toThrow(KafkaJSNonRetriableError);
    expect(step).toHaveBeenCalledTimes(3);
  });

  it('does not retry any other error', async () => {
    const step = jest.fn(async () => {
      throw new Error('fenced');
    });
    await expect(retryWhileTransactionSettles(step, { attempts: 3, sleep })).rejects.toThrow('fenced');
    expect(step).toHaveBeenCalledTimes(1);
  });
});

describe(commitInTransaction.name, () => {
  type Step = 'begin' | 'send' | 'offsets' | 'commit' | 'abort';
  /** A fake kafkajs transaction that records what it was asked, in order; a step in `failing` throws that many times. */
  function fakeProducer(failing: Partial<Record<Step, number>> = {}, error: (step: Step) => Error = (step) => new Error(`${step} failed`)) {
    const steps: string[] = [];
    const maybeFail = (step: Step) => {
      if ((failing[step] ?? 0) <= 0) return;
      failing[step]!--;
      throw error(step);
    };
    const transaction: Transaction = {
      sendBatch: async ({ topicMessages }: ProducerBatch) => {
        maybeFail('send');
        steps.push(`send ${topicMessages!.map((t) => `${t.topic}:${t.messages.length}`).join(',')}`);
        return topicMessages!.flatMap((t) => t.messages.map((m) => ({ topicName: t.topic, partition: m.partition!, errorCode: 0 })));
      },
      sendOffsets: async ({ topics }: Offsets & { consumerGroupId: string }) => {
        maybeFail('offsets');
        steps.push(`offsets ${topics[0].topic}/${topics[0].partitions[0].partition}@${topics[0].partitions[0].offset}`);
      },
      commit: async () => {
        maybeFail('commit');
        steps.push('commit');
      },
      abort: async () => {
        steps.push('abort');
        maybeFail('abort');
      },
    };
    const producer = {
      transaction: async () => {
        maybeFail('begin');
        return transaction;
      },
    };
    return { producer, steps };
  }
  const commit = (topicMessages: TopicMessages[] = [{ topic: 'joined', messages: [{ key: 'a', value: '1', partition: 0 }] }]) => ({
    groupId: 'joiner',
    topic: 'predictions',
    partition: 3,
    lastOffset: '41',
    topicMessages,
  });

  it('sends the outputs, then the offset after the last message, then commits', async () => {
    const { producer, steps } = fakeProducer();
    await commitInTransaction(producer, commit());
    expect(steps).toEqual(['send joined:1', 'offsets predictions/3@42', 'commit']);
  });

  it('commits only the offset of a batch without outputs', async () => {
    const { producer, steps } = fakeProducer();
    await commitInTransaction(producer, commit([]));
    expect(steps).toEqual(['offsets predictions/3@42', 'commit']);
  });

  it('retries the offsets while the coordinator answers CONCURRENT_TRANSACTIONS, in the same transaction', async () => {
    const { producer, steps } = fakeProducer({ offsets: 2 }, concurrent);
    await commitInTransaction(producer, commit());
    expect(steps).toEqual(['send joined:1', 'offsets predictions/3@42', 'commit']);
  });

  it("aborts on an output's own error and throws it unmarked: the producer is still good", async () => {
    const { producer, steps } = fakeProducer({ send: 1 });
    const error = await commitInTransaction(producer, commit()).catch((e: unknown) => e);
    expect(error).toEqual(new Error('send failed'));
    expect(steps).toEqual(['abort']);
    expect(isTransactionBroken(error)).toBe(false);
    expect(isCommitFailure(error)).toBe(false);
  });

  it('marks the transaction broken when an abort after a failed send fails too', async () => {
    const { producer, steps } = fakeProducer({ send: 1, abort: 1 });
    const error = await commitInTransaction(producer, commit()).catch((e: unknown) => e);
    expect(steps).toEqual(['abort']);
    expect(isTransactionBroken(error)).toBe(true);
    expect(isCommitFailure(error)).toBe(false);
  });

  it('aborts and marks a failed commit both a commit failure and a broken transaction', async () => {
    const { producer, steps } = fakeProducer({ commit: 1 });
    const error = await commitInTransaction(producer, commit()).catch((e: unknown) => e);
    expect(steps).toEqual(['send joined:1', 'offsets predictions/3@42', 'abort']);
    expect(isCommitFailure(error)).toBe(true);
    expect(isTransactionBroken(error)).toBe(true);
  });

  it('marks a transaction that could not begin broken', async () => {
    const { producer } = fakeProducer({ begin: 1 });
    const error = await commitInTransaction(producer, commit()).catch((e: unknown) => e);
    expect(isTransactionBroken(error)).toBe(true);
    expect(isCommitFailure(error)).toBe(false);
  });
});
