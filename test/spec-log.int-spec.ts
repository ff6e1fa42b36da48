import { routerService } from '../apps/router/src/router.service-definition';
import { isolation } from './support/kafka';
import { http, testSpecLog } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

const variants = [
  { name: 'v1', url: 'http://127.0.0.1:9', model: 'm1' },
  { name: 'v2', url: 'http://127.0.0.1:9', model: 'm2' },
];
/** On a closed port: the spec log is what these tests are about, so PUTs skip the readiness probe (force). */
const canary = (percent: number) => ({ variants, strategy: { type: 'canary', primary: 'v1', canary: 'v2', percent } });

/**
 * The registry's record is the spec log on Kafka; Redis (here a private one, restarted
 * empty) only caches what it folds to.
 */
describe('spec log (real Kafka, a private Redis restarted empty)', () => {
  const ids = isolation('speclog');
  const {
    privateRedis: redis,
    router,
    specs: other,
  } = useStack({ ids, privateRedis: true, services: { router: [routerService, { KAFKA_INGRESS: 'false' }] }, specLog: true });

  const versions = async (name: string) => {
    const { registry } = other;
    const current = await registry.get(name);
    if (!current) return null;
    const all = [];
    for (let v = 1; v <= current.version; v++) all.push(await registry.version(name, v));
    return { current: current.version, all };
  };

  it('restores every deployment with its versions and history after Redis comes back empty, by itself', async () => {
    expect((await http('PUT', `${router.url}/v1/deployments/kept?force=true`, canary(10))).body.version).toBe(1);
    expect((await http('PUT', `${router.url}/v1/deployments/kept?force=true`, canary(20))).body.version).toBe(2);
    expect((await http('POST', `${router.url}/v1/deployments/kept/promote`, { variant: 'v2' })).body.version).toBe(3);
    const rolledBack = await http('POST', `${router.url}/v1/deployments/kept/rollback`);
    expect(rolledBack.body).toMatchObject({ version: 4, strategy: { type: 'canary', percent: 20 } });
    expect((await http('PUT', `${router.url}/v1/deployments/gone?force=true`, canary(5))).status).toBe(200);
    expect((await http('DELETE', `${router.url}/v1/deployments/gone?force=true`)).status).toBe(204);
    const before = await versions('kept');
    expect(before?.current).toBe(4);

    await redis.restartEmpty();

    await waitFor(async () => JSON.stringify(await versions('kept')) === JSON.stringify(before), {
      timeoutMs: 30000,
      what: 'the registry restored from the spec log',
    });
    expect((await http('GET', `${router.url}/v1/deployments/gone?force=true`)).status).toBe(404);
    expect((await http('GET', `${router.url}/v1/deployments`)).body.deployments.map((d: { name: string }) => d.name)).toEqual(['kept']);
    // The version numbers go on from the log, not from an empty Redis.
    expect((await http('PUT', `${router.url}/v1/deployments/kept?force=true`, canary(30))).body.version).toBe(5);
    expect((await http('PUT', `${router.url}/v1/deployments/gone?force=true`, canary(5))).body.version).toBe(1);
  });

  it('keeps compare-and-set between two writers: of two changes made from the same version, one applies', async () => {
    const current = (await http('PUT', `${router.url}/v1/deployments/race?force=true`, canary(10))).body;
    const { version, result: _result, report: _report, status: _status, ...body } = current;
    const [mine, theirs] = await Promise.all([
      other.specLog.submit({ deployment: 'race', change: 'put', body: { ...body, strategy: { type: 'single', variant: 'v1' } }, expectedVersion: version }),
      http('POST', `${router.url}/v1/deployments/race/promote`, { variant: 'v2' }),
    ]);
    const results = [mine.result === 'written', theirs.status === 200];
    expect(results.filter(Boolean)).toHaveLength(1);
    if (theirs.status !== 200) expect(theirs.status).toBe(409);
    expect((await other.registry.get('race'))!.version).toBe(version + 1);
  });

  it('gives a process started later the same registry, read from the log', async () => {
    const later = await testSpecLog({ TOPIC_PREFIX: ids.topicPrefix, REDIS_PREFIX: ids.redisPrefix, REDIS_URL: redis.url });
    try {
      const outcome = await later.specLog.submit({ deployment: 'kept', change: 'rollback' });
      expect(outcome).toMatchObject({ result: 'written', version: 6, restored: 4 });
    } finally {
      await later.close();
    }
  });
});
