/**
 * A background task run every `intervalMs`, never two runs at once (a slow run skips the
 * ticks it overlaps), and `stop()` waits for the run in progress: what a graceful
 * shutdown needs from the sweeps and snapshots of the services. `task` handles its own
 * errors; a rejection is reported to `onError` rather than left unhandled.
 */
export class PeriodicTask {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly task: () => Promise<void>,
    private readonly intervalMs: number,
    private readonly onError: (error: Error) => void = () => undefined,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => {
      this.running ??= this.task()
        .catch((error: Error) => this.onError(error))
        .finally(() => (this.running = undefined));
    }, this.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
