type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

/** Polls until `check` returns a truthy value (never sleeps a fixed time to assert). */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  { timeoutMs = 30000, intervalMs = 50, what = 'condition', signal }: { timeoutMs?: number; intervalMs?: number; what?: string; signal?: AbortSignal } = {},
): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    // A caller that already knows the answer (e.g. the process died) stops the polling, or it would hold jest open until the deadline.
    if (signal?.aborted) throw new Error(`stopped waiting for ${what}`);
    try {
      const value = await check();
      if (value) return value as Truthy<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
