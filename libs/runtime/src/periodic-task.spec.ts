import { PeriodicTask } from './periodic-task';

describe(PeriodicTask.name, () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('runs the task every interval, never two runs at once', async () => {
    let release: () => void = () => undefined;
    const task = jest.fn(() => new Promise<void>((resolve) => (release = resolve)));
    const periodic = new PeriodicTask(task, 100);
    periodic.start();
    await jest.advanceTimersByTimeAsync(350);
    expect(task).toHaveBeenCalledTimes(1); // the first run is still going
    release();
    await jest.advanceTimersByTimeAsync(100);
    expect(task).toHaveBeenCalledTimes(2);
    release();
    await periodic.stop();
  });

  it('stop() waits for the run in progress, then runs nothing more', async () => {
    let finished = false;
    const periodic = new PeriodicTask(async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      finished = true;
    }, 100);
    periodic.start();
    await jest.advanceTimersByTimeAsync(100);
    const stopped = periodic.stop();
    await jest.advanceTimersByTimeAsync(50);
    await stopped;
    expect(finished).toBe(true);
    finished = false;
    await jest.advanceTimersByTimeAsync(500);
    expect(finished).toBe(false);
  });

  it('reports a failed run and keeps running', async () => {
    const errors: string[] = [];
    const task = jest.fn().mockRejectedValueOnce(new Error('redis down')).mockResolvedValue(undefined);
    const periodic = new PeriodicTask(task, 100, (error) => errors.push(error.message));
    periodic.start();
    await jest.advanceTimersByTimeAsync(200);
    expect(errors).toEqual(['redis down']);
    expect(task).toHaveBeenCalledTimes(2);
    await periodic.stop();
  });
});
