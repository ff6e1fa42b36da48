import { Logger } from '@nestjs/common';
import { DeploymentSpec } from '@switchyard/contracts';
import { UrlAllowlist } from '@switchyard/model-client';
import { DeploymentRegistry } from '@switchyard/store';
import { RouterEnv } from '../router.env';
import { DeploymentCache } from './deployment.cache';

const spec = (name: string, version: number, url = 'http://127.0.0.1:9000') =>
  ({ name, version, variants: [{ name: 'v1', url }], strategy: { type: 'single', variant: 'v1' } }) as unknown as DeploymentSpec;

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
    sut = new DeploymentCache(registry, new UrlAllowlist(''), env);
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
    sut = new DeploymentCache(registry, new UrlAllowlist(''), env);
    await sut.onModuleInit();
    expect(sut.all().map((s) => [s.name, s.version])).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
  });

  it('does not serve a listed spec whose variant URL the allowlist refuses (written past PUT, straight to the spec log)', async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const registry = {
      onChange: async () => undefined,
      epoch: async () => 5,
      list: async () => [spec('a', 1), spec('smuggled', 1, 'http://169.254.169.254/')],
    } as unknown as DeploymentRegistry;
    sut = new DeploymentCache(registry, new UrlAllowlist(''), env);
    await sut.onModuleInit();
    expect(sut.all().map((s) => s.name)).toEqual(['a']);
    expect(Logger.prototype.warn).toHaveBeenCalledWith(
      { deployment: 'smuggled', version: 1, problems: [expect.stringMatching(/^variants\.v1\.url: host "169\.254\.169\.254" is not allowed/)] },
      'not serving a spec whose variant URLs the allowlist refuses',
    );
  });
});
