import { backoffMs } from '@switchyard/runtime';
import { FailureKind, TransientError } from './failures';
import { isolatePoison, PoisonPorts } from './poison';

/**
 * A fake consumer around a fake handler: records every batch handed to the handler, what
 * was committed, dead-lettered and waited, and how failures were reported.
 */
function harness(handler: (messages: string[]) => void, over: Partial<PoisonPorts<string>> = {}) {
  const handled: string[][] = [];
  const committed: string[] = [];
  const deadLettered: { message: string; reason: string; attempts: number }[] = [];
  const waits: number[] = [];
  const failures: { messages: string[]; kind: FailureKind; attempts: number }[] = [];
  const ports: PoisonPorts<string> = {
    process: async (messages) => {
      handled.push(messages);
      handler(messages);
      committed.push(...messages);
    },
    judge: (error) => (error instanceof TransientError ? 'transient' : 'permanent'),
    deadLetter: async (message, reason, attempts) => {
      deadLettered.push({ message, reason, attempts });
      committed.push(message);
    },
    failed: (messages, { kind, attempts }) => void failures.push({ messages, kind, attempts }),
    wait: async (ms) => void waits.push(ms),
    active: () => true,
    ...over,
  };
  return { ports, handled, committed, deadLettered, waits, failures };
}

const options = { poisonAttempts: 5, backoff: { baseMs: 100, maxMs: 1000 }, random: () => 1 };
/** A handler that fails permanently on any batch holding `poison`. */
const failsOn =
  (poison: string) =>
  (messages: string[]): void => {
    if (messages.includes(poison)) throw new Error(`cannot handle ${poison}`);
  };

describe(isolatePoison.name, () => {
  it('handles a good batch once, with no wait', async () => {
    const { ports, handled, committed, waits } = harness(() => undefined);
    await isolatePoison(['a', 'b'], ports, options);
    expect(handled).toEqual([['a', 'b']]);
    expect(committed).toEqual(['a', 'b']);
    expect(waits).toEqual([]);
  });

  it('retries a transient failure with growing backoff for as long as it lasts, never dead-lettering', async () => {
    let outage = 8;
    const { ports, handled, deadLettered, waits, failures } = harness(() => {
      if (outage-- > 0) throw new TransientError('redis down');
    });
    await isolatePoison(['a'], ports, options);
    expect(handled).toHaveLength(9);
    expect(deadLettered).toEqual([]);
    expect(waits).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffMs(n, options.backoff, options.random)));
    expect(waits.slice(0, 5)).toEqual([100, 200, 400, 800, 1000]);
    expect(failures.every((f) => f.kind === 'transient')).toBe(true);
  });

  it('splits a batch that keeps failing, dead-letters the one message that fails alone, and goes on with the rest as a batch', async () => {
    const { ports, handled, committed, deadLettered } = harness(failsOn('b'));
    await isolatePoison(['a', 'b', 'c', 'd'], ports, options);
    expect(handled).toEqual([['a', 'b', 'c', 'd'], ['a', 'b', 'c', 'd'], ['a'], ['b'], ['b'], ['b'], ['c', 'd']]);
    // The two batch failures count towards the poison message's five.
    expect(deadLettered).toEqual([{ message: 'b', reason: 'Error: cannot handle b', attempts: 5 }]);
    expect(committed).toEqual(['a', 'b', 'c', 'd']);
  });

  it('dead-letters a single bad record after poisonAttempts failures', async () => {
    const { ports, handled, deadLettered, failures } = harness(failsOn('x'));
    await isolatePoison(['x'], ports, options);
    expect(handled).toHaveLength(5);
    expect(deadLettered).toEqual([{ message: 'x', reason: 'Error: cannot handle x', attempts: 5 }]);
    expect(failures.map((f) => f.attempts)).toEqual([1, 2, 3, 4, 5]);
  });

  it('commits nothing more when the DLQ write fails: the error goes to the caller', async () => {
    const { ports, handled, committed } = harness(failsOn('b'), {
      deadLetter: async () => {
        throw new Error('dlq down');
      },
    });
    await expect(isolatePoison(['a', 'b', 'c'], ports, options)).rejects.toThrow('dlq down');
    expect(committed).toEqual(['a']);
    expect(handled.some((m) => m.includes('c') && !m.includes('b'))).toBe(false);
  });

  it('does not count transient failures towards the poison limit', async () => {
    let calls = 0;
    const { ports, deadLettered, failures } = harness(() => {
      calls++;
      if (calls <= 3) throw new Error('bug');
      if (calls <= 10) throw new TransientError('timeout');
    });
    await isolatePoison(['a'], ports, options);
    expect(deadLettered).toEqual([]);
    expect(failures.map((f) => f.attempts)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('stops at once when the consumer stops or loses the partition', async () => {
    let active = true;
    const { ports, handled, deadLettered } = harness(failsOn('b'), {
      wait: async () => void (active = false),
      active: () => active,
    });
    await isolatePoison(['a', 'b'], ports, options);
    expect(handled).toEqual([['a', 'b']]);
    expect(deadLettered).toEqual([]);
  });

  it('hands back an error the judge refuses to count', async () => {
    const { ports, handled } = harness(failsOn('a'), {
      judge: (error) => {
        throw error;
      },
    });
    await expect(isolatePoison(['a'], ports, options)).rejects.toThrow('cannot handle a');
    expect(handled).toHaveLength(1);
  });

  it('splits early when a message may fail only once (poisonAttempts 1)', async () => {
    const { ports, handled, deadLettered } = harness(failsOn('b'));
    await isolatePoison(['a', 'b'], ports, { ...options, poisonAttempts: 1 });
    expect(handled).toEqual([['a', 'b'], ['a'], ['b']]);
    expect(deadLettered).toEqual([{ message: 'b', reason: 'Error: cannot handle b', attempts: 2 }]);
  });
});
