import { backoffMs, retry } from './retry';

describe(backoffMs.name, () => {
  it('doubles from the base up to the cap, never below half the step', () => {
    const low = (attempt: number) => backoffMs(attempt, { baseMs: 100, maxMs: 1000 }, () => 0);
    const high = (attempt: number) => backoffMs(attempt, { baseMs: 100, maxMs: 1000 }, () => 1);
    expect([1, 2, 3, 4, 5, 6].map(high)).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect([1, 2, 3, 4, 5, 6].map(low)).toEqual([50, 100, 200, 400, 500, 500]);
    expect(backoffMs(10_000, { baseMs: 100, maxMs: 5000 }, () => 0.5)).toBe(3750);
  });

  it('spreads retries of processes failing together', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffMs(4)));
    expect(delays.size).toBeGreaterThan(10);
    for (const delay of delays) expect(delay).toBeGreaterThanOrEqual(400);
  });
});

describe(retry.name, () => {
  /** A step failing `failures` times, then answering; and the waits a retry made, without waiting. */
  function flaky(failures: number, error: () => unknown = () => new Error('down')) {
    const waits: number[] = [];
    let calls = 0;
    const step = jest.fn(async (attempt: number) => {
      calls++;
      if (calls <= failures) throw error();
      return `ok after ${attempt}`;
    });
    const sleep = async (ms: number) => void waits.push(ms);
    return { step, waits, sleep };
  }

  it('tries again after jittered, growing waits until the step succeeds', async () => {
    const { step, waits, sleep } = flaky(3);
    const random = jest.fn().mockReturnValueOnce(0).mockReturnValueOnce(1).mockReturnValueOnce(0.5);
    await expect(retry(step, { baseMs: 10, maxMs: 1000, random, sleep })).resolves.toBe('ok after 4');
    expect(waits).toEqual([5, 20, 30]);
  });

  it('throws the last failure once the attempts run out', async () => {
    let n = 0;
    const { step, waits, sleep } = flaky(10, () => new Error(`down ${++n}`));
    await expect(retry(step, { attempts: 3, sleep })).rejects.toThrow('down 3');
    expect(step).toHaveBeenCalledTimes(3);
    expect(waits).toHaveLength(2);
  });

  it('throws at once a failure retryIf refuses', async () => {
    const { step, waits, sleep } = flaky(1, () => Object.assign(new Error('bad'), { retriable: false }));
    await expect(retry(step, { retryIf: (error) => (error as { retriable?: boolean }).retriable !== false, sleep })).rejects.toThrow('bad');
    expect(step).toHaveBeenCalledTimes(1);
    expect(waits).toEqual([]);
  });

  it('calls onRetry with the failure, the attempt and the delay before each wait', async () => {
    const { step, sleep } = flaky(2);
    const seen: [string, number, number][] = [];
    await retry(step, {
      baseMs: 100,
      random: () => 1,
      sleep,
      onRetry: (error, attempt, delayMs) => void seen.push([(error as Error).message, attempt, delayMs]),
    });
    expect(seen).toEqual([
      ['down', 1, 100],
      ['down', 2, 200],
    ]);
  });
});
