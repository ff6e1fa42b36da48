import { Resources } from './stack';

describe(Resources.name, () => {
  const log: string[] = [];
  /** A thing whose method needs its `this`, as a client's do. */
  class Thing {
    constructor(readonly name: string) {}

    hello(): string {
      return `hello from ${this.name}`;
    }
  }
  const thing = (name: string, stopError?: Error) =>
    [
      async () => {
        log.push(`start ${name}`);
        return new Thing(name);
      },
      async () => {
        log.push(`stop ${name}`);
        if (stopError) throw stopError;
      },
    ] as const;

  beforeEach(() => log.splice(0));

  it('starts in the order added and stops in the reverse order, things started mid-way first', async () => {
    const sut = new Resources();
    sut.add('a', ...thing('a'));
    sut.add('b', ...thing('b'));

    await sut.startAll();
    await sut.addNow(...thing('c'));
    await sut.stopAll();

    expect(log).toEqual(['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  });

  it('hands out a stand-in that forwards to the started thing, methods bound to it', async () => {
    const sut = new Resources();
    const a = sut.add('a', ...thing('a'));

    await sut.startAll();

    expect(a.name).toBe('a');
    const { hello } = a;
    expect(hello()).toBe('hello from a');
  });

  it('says which stand-in was used before it started', () => {
    const a = new Resources().add('router', ...thing('a'));

    expect(() => a.name).toThrow('router was used before the stack started it (in beforeAll)');
  });

  it('stops the others when one fails to stop, and reports that failure', async () => {
    const sut = new Resources();
    sut.add('a', ...thing('a'));
    sut.add('b', ...thing('b', new Error('b would not stop')));
    await sut.startAll();

    await expect(sut.stopAll()).rejects.toThrow('b would not stop');
    expect(log).toEqual(['start a', 'start b', 'stop b', 'stop a']);
  });

  it('names a start that hangs, and stops it when it ends after the stack stopped', async () => {
    const sut = new Resources(50);
    sut.add('a', ...thing('a'));
    let finish!: () => void;
    const late = new Promise<void>((resolve) => (finish = resolve));
    sut.add(
      'kafka consumer',
      async () => {
        await late;
        return new Thing('late');
      },
      async () => void log.push('stop late'),
    );

    await expect(sut.startAll()).rejects.toThrow('kafka consumer did not start within 0.05 s');
    await sut.stopAll();
    finish();
    await new Promise((resolve) => setImmediate(resolve));

    expect(log).toEqual(['start a', 'stop a', 'stop late']);
  });

  it('stops only what started when a start fails', async () => {
    const sut = new Resources();
    sut.add('a', ...thing('a'));
    sut.add(
      'b',
      () => Promise.reject(new Error('no b')),
      async () => void log.push('stop b'),
    );
    sut.add('c', ...thing('c'));

    await expect(sut.startAll()).rejects.toThrow('no b');
    await sut.stopAll();

    expect(log).toEqual(['start a', 'stop a']);
  });
});
