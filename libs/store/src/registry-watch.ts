import { PeriodicTask } from '@switchyard/runtime';

const REFRESH = Symbol('refresh');

/** What a watch listens to: a store that announces the name of each change (`DeploymentRegistry`, `BanditWeightsStore`). */
export interface ChangeFeed {
  onChange(listener: (name: string) => void): Promise<void>;
  /** A counter every change moves: a refresh that finds it where the last applied listing left it skips the listing. */
  epoch?(): Promise<number>;
}

/** The full re-read a watch runs every `everyMs`, for announcements missed while the subscriber reconnected. */
export interface WatchRefresh<L> {
  everyMs: number;
  list(): Promise<L>;
  /** Applies a listing: only when no change was applied since it began, so an older listing never replaces a newer change. */
  apply(listing: L): void | Promise<void>;
}

export interface RegistryWatchOptions<L> {
  feed: ChangeFeed;
  /** Re-reads one announced name and applies it. */
  reload(name: string): void | Promise<void>;
  refresh?: WatchRefresh<L>;
  /** A failed reload (`name`) or refresh (no name); the next announcement or refresh reads again. */
  onError(error: Error, name?: string): void;
}

/**
 * Keeps an in-memory view of a store current: an announced name is reloaded at once, and
 * every `refresh.everyMs` everything is listed again when the feed's epoch moved (always,
 * for a feed without one). Reloads and listings run one at a time, in this process, so a
 * read that began earlier is always applied before one that began later; announcements
 * of a name not reloaded yet, and refreshes not begun yet, coalesce into one. A change
 * the owner applies itself (read-your-writes) is reported with `changed()`: a listing
 * begun before it is dropped, and listed again at the next refresh (a PUT answered
 * while the router listed was 404 for a refresh interval otherwise).
 */
export class RegistryWatch<L = unknown> {
  /** Names to reload and the refresh, in the order they were first asked for since their last read began. */
  private readonly queued = new Set<string | typeof REFRESH>();
  /** Settles when the queued refresh has run. */
  private refreshed?: { done: Promise<void>; resolve: () => void };
  private draining?: Promise<void>;
  private readonly periodic?: PeriodicTask;
  /** Counts changes applied, so a listing knows whether one came after it began. */
  private serial = 0;
  /** The feed's epoch when the last listing was applied; undefined: none yet, or forgotten (`resync`). */
  private epoch?: number;
  /** Counts `resync` calls, so a listing begun before one does not record its epoch. */
  private resyncs = 0;
  private stopped = false;

  constructor(private readonly options: RegistryWatchOptions<L>) {
    if (options.refresh) this.periodic = new PeriodicTask(() => this.refresh(), options.refresh.everyMs);
  }

  /** Subscribes, then lists once (when there is a refresh) before resolving, then refreshes periodically. */
  async start(): Promise<void> {
    await this.options.feed.onChange((name) => this.announce(name));
    if (!this.options.refresh) return;
    await this.refresh();
    this.periodic?.start();
  }

  /** Stops refreshing and waits for the reads in progress; later announcements are ignored. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.periodic?.stop();
    await this.draining;
  }

  /** Reloads `name` after the reads queued before it (once, however often it is announced meanwhile). */
  announce(name: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.queued.add(name);
    return this.drain();
  }

  /** Lists everything after the reads queued before it, unless the epoch says nothing changed; resolves when it ran. */
  refresh(): Promise<void> {
    if (!this.options.refresh) return Promise.resolve();
    if (!this.refreshed) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      this.refreshed = { done, resolve };
      this.queued.add(REFRESH);
    }
    const { done } = this.refreshed;
    void this.drain();
    return done;
  }

  /** The owner applied a change itself: a listing begun before it must not replace it. */
  changed(): void {
    this.serial++;
  }

  /** The view must be listed again at the next refresh, whatever the epoch says (the store lost data). */
  resync(): void {
    this.epoch = undefined;
    this.resyncs++;
  }

  private drain(): Promise<void> {
    this.draining ??= this.run();
    return this.draining;
  }

  private async run(): Promise<void> {
    // Starts after the caller's turn, so that `draining` is set before it can be cleared below.
    await Promise.resolve();
    for (let [next] = this.queued; next !== undefined; [next] = this.queued) {
      this.queued.delete(next);
      if (next !== REFRESH) {
        await this.reload(next);
        continue;
      }
      const refreshed = this.refreshed;
      this.refreshed = undefined;
      await this.list();
      refreshed?.resolve();
    }
    this.draining = undefined;
  }

  private async reload(name: string): Promise<void> {
    try {
      await this.options.reload(name);
      this.serial++;
    } catch (error) {
      this.options.onError(error as Error, name);
    }
  }

  private async list(): Promise<void> {
    const { refresh } = this.options;
    if (!refresh) return;
    try {
      const { serial, resyncs } = this;
      const epoch = await this.options.feed.epoch?.();
      if (epoch !== undefined && epoch === this.epoch) return;
      const listing = await refresh.list();
      if (this.serial !== serial) return;
      await refresh.apply(listing);
      this.serial++;
      if (this.resyncs === resyncs) this.epoch = epoch;
    } catch (error) {
      this.options.onError(error as Error);
    }
  }
}
