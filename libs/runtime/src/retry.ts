export interface BackoffOptions {
  /** Delay before the first retry. @default 100 */
  baseMs?: number;
  /** The most any retry waits. @default 5000 */
  maxMs?: number;
}

/**
 * Delay before retry number `attempt` (1 = the first retry): exponential, capped, with
 * "equal jitter" (half fixed, half random) so a fleet of processes hit by the same outage
 * does not retry in lockstep, yet each still waits at least half the step.
 */
export function backoffMs(attempt: number, { baseMs = 100, maxMs = 5000 }: BackoffOptions = {}, random: () => number = Math.random): number {
  const step = Math.min(maxMs, baseMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return Math.round(step / 2 + (random() * step) / 2);
}

export interface RetryOptions extends BackoffOptions {
  /** Tries in all, the first included. @default Infinity */
  attempts?: number;
  /** Whether a failure is worth another try; one that is not is thrown at once. @default every failure */
  retryIf?: (error: unknown) => boolean;
  /** Runs before each wait (to log, or to heartbeat a long wait away). */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void | Promise<void>;
  /** For tests. @default Math.random */
  random?: () => number;
  /** For tests. @default a timer */
  sleep?: (ms: number) => Promise<void>;
}

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `step` until it succeeds, waiting `backoffMs` between tries: the one retry loop
 * of the project (kafkajs's `retry/index.js` is the model). The last failure is thrown
 * when `attempts` run out or `retryIf` refuses it.
 */
export async function retry<T>(step: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const { attempts = Infinity, retryIf = () => true, onRetry, random = Math.random, sleep = sleepFor } = options;
  for (let attempt = 1; ; attempt++) {
    try {
      return await step(attempt);
    } catch (error) {
      if (attempt >= attempts || !retryIf(error)) throw error;
      const delayMs = backoffMs(attempt, options, random);
      await onRetry?.(error, attempt, delayMs);
      await sleep(delayMs);
    }
  }
}
