import { BackoffOptions, backoffMs } from '@switchyard/runtime';
import { describeError, FailureKind } from './failures';

/** What poison isolation does to the world; the consumer server wires them to kafkajs, a test to fakes. */
export interface PoisonPorts<M> {
  /** Handles the messages and commits them; throws what failed. */
  process(messages: M[]): Promise<void>;
  /** How a failure counts; throws an error that is not the messages' to count (kafkajs's own). */
  judge(error: unknown): FailureKind;
  /** Writes a poison message to the DLQ and commits it; throws (nothing committed) if that fails. */
  deadLetter(message: M, reason: string, attempts: number): Promise<void>;
  /** Told of each failed attempt before the wait: `attempts` counts every failure of these messages. */
  failed(messages: M[], failure: { kind: FailureKind; reason: string; attempts: number }): void;
  /** Waits between attempts (heartbeating, and ending early once `active` is false). */
  wait(ms: number): Promise<void>;
  /** False once the consumer stops or loses the partition: nothing more is tried. */
  active(): boolean;
}

export interface PoisonOptions {
  /** Permanent failures of one message alone before it goes to the DLQ. */
  poisonAttempts: number;
  backoff?: BackoffOptions;
  /** For tests. @default Math.random */
  random?: () => number;
}

type Attempted = { result: 'done' } | { result: 'stopped' } | { result: 'failed'; reason: string; attempts: number };

/**
 * Handles a batch so that one message the code cannot handle stops nothing but itself.
 * Transient failures retry the batch with backoff for as long as they last. A permanent
 * failure retries the batch a couple of times, then its messages one by one: the message
 * that fails alone until it has failed `poisonAttempts` times is dead-lettered, and the
 * rest goes on as a batch again. Kafka-free, so every path is tested with fakes.
 */
export async function isolatePoison<M>(messages: M[], ports: PoisonPorts<M>, options: PoisonOptions): Promise<void> {
  const { poisonAttempts } = options;
  const alone = messages.length === 1;
  // A batch that keeps failing is split early: only a message failing alone is poison.
  const batchLimit = alone ? poisonAttempts : Math.max(1, Math.min(2, poisonAttempts - 1));
  const first = await attempt(messages, batchLimit, 0, ports, options);
  if (first.result !== 'failed') return;
  if (alone) return ports.deadLetter(messages[0], first.reason, first.attempts);
  for (let i = 0; i < messages.length; i++) {
    const single = await attempt([messages[i]], poisonAttempts, first.attempts, ports, options);
    if (single.result === 'stopped') return;
    if (single.result === 'failed') {
      await ports.deadLetter(messages[i], single.reason, single.attempts);
      if (i + 1 < messages.length) await isolatePoison(messages.slice(i + 1), ports, options);
      return;
    }
  }
}

/**
 * Processes `messages` until they are done, or a permanent failure has been counted
 * `limit` times (counting `already` failures from an earlier batch attempt, and at least
 * one here), or the consumer stops. Transient failures retry without limit.
 */
async function attempt<M>(messages: M[], limit: number, already: number, ports: PoisonPorts<M>, options: PoisonOptions): Promise<Attempted> {
  let permanent = already;
  let failures = 0;
  for (;;) {
    if (!ports.active()) return { result: 'stopped' };
    try {
      await ports.process(messages);
      return { result: 'done' };
    } catch (error) {
      const kind = ports.judge(error);
      const reason = describeError(error);
      failures++;
      if (kind === 'permanent') permanent++;
      ports.failed(messages, { kind, reason, attempts: already + failures });
      if (kind === 'permanent' && permanent >= limit) return { result: 'failed', reason, attempts: permanent };
      await ports.wait(backoffMs(failures, options.backoff, options.random));
    }
  }
}
