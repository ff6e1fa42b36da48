import { DeploymentSpec } from '@switchyard/contracts';
import { DeploymentRegistry } from '@switchyard/store';
import { RouterEnv } from '../router.env';
import { DeploymentCache } from './deployment.cache';

const spec = (name: string, version: number) =>
  ({ name, version, variants: [{ name: 'v1', url: 'http://127.0.0.1:9000' }], strategy: { type: 'single', variant: 'v1' } }) as unknown as DeploymentSpec;

describe('DeploymentCache', () => {
  it('keeps a spec set while a refresh was listing the registry, rather than the older list', async () => {
    let answerList!: (specs: DeploymentSpec[]) => void;
    const registry = {
      epoch: async () => 2,
      list: () => new Promise<DeploymentSpec[]>((resolve) => (answerList = resolve)),
    } as unknown as DeploymentRegistry;
    const sut = new DeploymentCache(registry, { REFRESH_INTERVAL_MS: 1000 } as RouterEnv);
    const refreshing = (sut as unknown as { refresh(): Promise<void> }).refresh();
    await new Promise((resolve) => setImmediate(resolve));
    // A PUT answered on this router while the list was read, which does not have it yet.
    sut.set(spec('new', 1));
    answerList([spec('old', 3)]);
    await refreshing;
    expect(sut.get('new')?.version).toBe(1);
  });

  it('takes the listed specs when nothing changed meanwhile', async () => {
    const registry = { epoch: async () => 5, list: async () => [spec('a', 1), spec('b', 2)] } as unknown as DeploymentRegistry;
    const sut = new DeploymentCache(registry, { REFRESH_INTERVAL_MS: 1000 } as RouterEnv);
    await (sut as unknown as { refresh(): Promise<void> }).refresh();
    expect(sut.all().map((s) => [s.name, s.version])).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
  });
});
