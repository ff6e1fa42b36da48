import { ChangeFeed, RegistryWatch } from './registry-watch';

/** A promise the test settles by hand. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** A subscription the test announces on, with an epoch it moves. */
class FakeFeed implements ChangeFeed {
  epochNow = 1;
  private listener?: (name: string) => void;
  async onChange(listener: (name: string) => void): Promise<void> {
    this.listener = listener;
  }
  async epoch(): Promise<number> {
    return this.epochNow;
  }
  announce(name: string): void {
    this.listener!(name);
  }
}

/** Turns until `condition` holds (the watch's reads are promise chains). */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; !condition(); i++) {
    if (i > 200) throw new Error('condition never held');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * A loader over a fake store: every read is held until the test answers it, so the test
 * decides the order in which reads finish; `view` is what was applied.
 */
function fakeLoader() {
  const reads: { what: string; answer: ReturnType<typeof deferred<string>> }[] = [];
  const view: string[] = [];
  const errors: (string | undefined)[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const read = async (what: string) => {
    const answer = deferred<string>();
    reads.push({ what, answer });
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      return await answer.promise;
    } finally {
      inFlight--;
    }
  };
  return {
    reads,
    view,
    errors,
    maxInFlight: () => maxInFlight,
    reload: async (name: string) => void view.push(await read(`reload ${name}`)),
    list: () => read('list'),
    apply: (listing: string) => void view.push(listing),
    onError: (_error: Error, name?: string) => void errors.push(name),
    /** Answers the oldest unanswered read with `value` (an Error rejects it). */
    async answer(what: string, value: string | Error) {
      await until(() => reads.some((r) => r.what === what));
      const index = reads.findIndex((r) => r.what === what);
      const [{ answer }] = reads.splice(index, 1);
      if (value instanceof Error) answer.reject(value);
      else answer.resolve(value);
    },
  };
}

function watchOf(feed: FakeFeed, loader: ReturnType<typeof fakeLoader>, everyMs = 60_000) {
  return new RegistryWatch<string>({
    feed,
    reload: loader.reload,
    refresh: { everyMs, list: loader.list, apply: loader.apply },
    onError: loader.onError,
  });
}

describe(RegistryWatch.name, () => {
  let feed: FakeFeed;
  let loader: ReturnType<typeof fakeLoader>;
  let sut: RegistryWatch<string>;

  beforeEach(async () => {
    feed = new FakeFeed();
    loader = fakeLoader();
    sut = watchOf(feed, loader);
    const started = sut.start();
    await loader.answer('list', 'listing 1');
    await started;
  });

  afterEach(() => sut.stop());

  it('lists once at start, then reloads each announced name', async () => {
    feed.announce('a');
    await loader.answer('reload a', 'a v2');
    await until(() => loader.view.length === 2);
    expect(loader.view).toEqual(['listing 1', 'a v2']);
  });

  it('runs one read at a time, in the order they were asked for', async () => {
    feed.announce('a');
    feed.announce('b');
    feed.epochNow = 2;
    const refreshed = sut.refresh();
    await until(() => loader.reads.length === 1);
    // Answering a later read first does not apply it first: it has not even started.
    expect(loader.reads.map((r) => r.what)).toEqual(['reload a']);
    await loader.answer('reload a', 'a v2');
    await loader.answer('reload b', 'b v2');
    await loader.answer('list', 'listing 2');
    await refreshed;
    expect(loader.view).toEqual(['listing 1', 'a v2', 'b v2', 'listing 2']);
    expect(loader.maxInFlight()).toBe(1);
  });

  it('coalesces announcements of a name not reloaded yet, and refreshes not begun yet', async () => {
    feed.announce('a');
    await until(() => loader.reads.length === 1);
    feed.announce('b');
    feed.announce('b');
    feed.announce('a');
    feed.epochNow = 2;
    const refreshes = [sut.refresh(), sut.refresh()];
    await loader.answer('reload a', 'a v2');
    await loader.answer('reload b', 'b v2');
    await loader.answer('reload a', 'a v3');
    await loader.answer('list', 'listing 2');
    await Promise.all(refreshes);
    expect(loader.view).toEqual(['listing 1', 'a v2', 'b v2', 'a v3', 'listing 2']);
    expect(loader.reads).toEqual([]);
  });

  it('never applies a listing begun before a change the owner applied, and lists again at the next refresh', async () => {
    feed.epochNow = 2;
    const refreshed = sut.refresh();
    await until(() => loader.reads.length === 1);
    sut.changed(); // a read-your-writes change, newer than what the listing may hold
    await loader.answer('list', 'stale listing');
    await refreshed;
    expect(loader.view).toEqual(['listing 1']);

    const again = sut.refresh();
    await loader.answer('list', 'listing 2');
    await again;
    expect(loader.view).toEqual(['listing 1', 'listing 2']);
  });

  it('skips a listing while the epoch stays where the last listing left it, unless told to resync', async () => {
    await sut.refresh();
    expect(loader.reads).toEqual([]);

    sut.resync();
    const refreshed = sut.refresh();
    await loader.answer('list', 'listing after resync');
    await refreshed;
    expect(loader.view).toEqual(['listing 1', 'listing after resync']);
  });

  it('reports a failed read and recovers at the next announcement or refresh', async () => {
    feed.announce('a');
    await loader.answer('reload a', new Error('redis down'));
    feed.epochNow = 2;
    const failed = sut.refresh();
    await loader.answer('list', new Error('redis down'));
    await failed;
    expect(loader.errors).toEqual(['a', undefined]);
    expect(loader.view).toEqual(['listing 1']);

    feed.announce('a');
    await loader.answer('reload a', 'a v2');
    // The failed listing recorded no epoch: the same epoch is listed again.
    const refreshed = sut.refresh();
    await loader.answer('list', 'listing 2');
    await refreshed;
    expect(loader.view).toEqual(['listing 1', 'a v2', 'listing 2']);
  });

  it('stop() waits for the read in progress, then ignores announcements', async () => {
    feed.announce('a');
    await until(() => loader.reads.length === 1);
    const stopped = sut.stop();
    feed.announce('b');
    await loader.answer('reload a', 'a v2');
    await stopped;
    expect(loader.view).toEqual(['listing 1', 'a v2']);
    expect(loader.reads).toEqual([]);
  });
});

describe(`${RegistryWatch.name} over time`, () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('refreshes every interval, and every time for a feed without an epoch', async () => {
    const lists = jest.fn(async () => 'listing');
    const sut = new RegistryWatch<string>({
      feed: { onChange: async () => undefined },
      reload: async () => undefined,
      refresh: { everyMs: 100, list: lists, apply: () => undefined },
      onError: () => undefined,
    });
    await sut.start();
    expect(lists).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(350);
    expect(lists).toHaveBeenCalledTimes(4);
    await sut.stop();
  });

  it('only subscribes when there is no refresh', async () => {
    const forgotten: string[] = [];
    let announce!: (name: string) => void;
    const sut = new RegistryWatch({
      feed: { onChange: async (listener) => void (announce = listener) },
      reload: (name) => void forgotten.push(name),
      onError: () => undefined,
    });
    await sut.start();
    announce('a');
    await jest.advanceTimersByTimeAsync(1000);
    expect(forgotten).toEqual(['a']);
  });
});
