type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

/** Polls until `check` returns a truthy value (never sleeps a fixed time to assert). */
export async function waitFor<T>(check: () => T | Promise<T>, { timeoutMs = 30000, intervalMs = 50, what = 'condition' } = {}): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
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
