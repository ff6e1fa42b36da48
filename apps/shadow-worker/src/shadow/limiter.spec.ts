import { Limiter } from './limiter';

describe(Limiter.name, () => {
  it('never runs more than its limit at once, and runs every task', async () => {
    const sut = new Limiter(3);
    let running = 0;
    let peak = 0;
    const task = (i: number) => async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 1 + (i % 4)));
      running--;
      return i;
    };
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => sut.run(task(i))));
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(peak).toBe(3);
    expect(sut.running).toBe(0);
  });

  it('frees the slot of a task that fails', async () => {
    const sut = new Limiter(1);
    await expect(sut.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(sut.run(async () => 'next')).resolves.toBe('next');
    expect(sut.running).toBe(0);
  });

  it('refuses a limit below 1', () => {
    expect(() => new Limiter(0)).toThrow('positive integer');
  });
});
