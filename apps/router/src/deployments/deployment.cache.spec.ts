import { DeploymentSpec } from '@switchyard/contracts';
import { DeploymentRegistry } from '@switchyard/store';
import { RouterEnv } from '../router.env';
import { DeploymentCache } from './deployment.cache';

const spec = (name: string, version: number) =>
  ({ name, version, variants: [{ name: 'v1', url: 'http://127.0.0.1:9000' }], strategy: { type: 'single', variant: 'v1' } }) as unknown as DeploymentSpec;

const env = { REFRESH_INTERVAL_MS: 60_000 } as RouterEnv;

describe('DeploymentCache', () => {
  let sut: DeploymentCache;
  afterEach(() => sut.onModuleDestroy());

  it('keeps a spec set while a refresh was listing the registry, rather than the older list', async () => {
    let answerList!: (specs: DeploymentSpec[]) => void;
    const registry = {
      onChange: async () => undefined,
      epoch: async () => 2,
      list: () => new Promise<DeploymentSpec[]>((resolve) => (answerList = resolve)),
    } as unknown as DeploymentRegistry;
    sut = new DeploymentCache(registry, env);
    const starting = sut.onModuleInit();
    while (!answerList) await new Promise((resolve) => setImmediate(resolve));
    // A PUT answered on this router while the list was read, which does not have it yet.
    sut.set(spec('new', 1));
    answerList([spec('old', 3)]);
    await starting;
    expect(sut.get('new')?.version).toBe(1);
  });

  it('takes the listed specs when nothing changed meanwhile', async () => {
    const registry = { onChange: async () => undefined, epoch: async () => 5, list: async () => [spec('a', 1), spec('b', 2)] } as unknown as DeploymentRegistry;
    sut = new DeploymentCache(registry, env);
    await sut.onModuleInit();
    expect(sut.all().map((s) => [s.name, s.version])).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
  });
});
