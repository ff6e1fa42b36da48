import { toInferInputs } from '@switchyard/demo-models';
import { routerService } from '../apps/router/src/router.service-definition';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { isolation } from './support/kafka';
import { http, RunningService } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

const ADMIN_KEY = 'test-admin-key-0123456789';
const auth = { authorization: `Bearer ${ADMIN_KEY}` };

describe('router strategies and control plane (two routers, real Kafka and Redis)', () => {
  const ids = isolation('strategies');
  const env = { KAFKA_INGRESS: 'false', ADMIN_API_KEY: ADMIN_KEY };
  const { modelServer, routerA, routerB, predictions, shadowRequests, deploymentEvents } = useStack({
    ids,
    services: { modelServer: modelServerService, routerA: [routerService, env], routerB: [routerService, { ...env, REFRESH_INTERVAL_MS: '60000' }] },
    collect: { predictions: 'predictions', shadowRequests: 'shadowRequests', deploymentEvents: 'deploymentEvents' },
  });
  const inputs = toInferInputs([0.2, 0.4, 0.6, 0.8]);

  // The model server runs in this test's process: on a loaded machine an answer can take
  // over the default second, and a timeout is not what these tests are about.
  const variants = () => [
    { name: 'v1', url: modelServer.url, model: 'churn-v1', timeoutMs: 10000 },
    { name: 'v2', url: modelServer.url, model: 'churn-v2', timeoutMs: 10000 },
    { name: 'v3', url: modelServer.url, model: 'churn-v3', timeoutMs: 10000 },
  ];
  const put = (router: RunningService, name: string, strategy: object, extra: object = {}) =>
    http('PUT', `${router.url}/v1/deployments/${name}`, { variants: variants(), strategy, ...extra }, auth);
  const predict = (router: RunningService, name: string, body: object) => http('POST', `${router.url}/v1/deployments/${name}/predict`, { inputs, ...body });

  /** Sends `count` predictions, `concurrency` at a time, and returns the serving variant of each. */
  async function traffic(router: RunningService, name: string, count: number, body: (i: number) => object): Promise<string[]> {
    const served: string[] = new Array(count);
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < count) {
          const i = next++;
          const answer = await predict(router, name, body(i));
          if (answer.status !== 200) throw new Error(`predict ${i}: ${answer.status} ${JSON.stringify(answer.body)}`);
          served[i] = answer.body.variant;
        }
      }),
    );
    return served;
  }

  it('refuses control-plane changes without the admin key, and serves predictions without one', async () => {
    const denied = await http('PUT', `${routerA.url}/v1/deployments/guarded`, { variants: variants(), strategy: { type: 'single', variant: 'v1' } });
    expect(denied.status).toBe(401);
    const wrong = await http('DELETE', `${routerA.url}/v1/deployments/guarded`, undefined, { authorization: 'Bearer nope' });
    expect(wrong.status).toBe(401);
    expect((await put(routerA, 'guarded', { type: 'single', variant: 'v1' })).status).toBe(200);
    expect((await predict(routerA, 'guarded', {})).status).toBe(200);
  });

  it('routes the canary share by unit, sticky and close to the percent', async () => {
    expect((await put(routerA, 'canary', { type: 'canary', primary: 'v1', canary: 'v2', percent: 25 })).status).toBe(200);
    const units = 2000;
    const served = await traffic(routerA, 'canary', units, (i) => ({ unitKey: `user-${i}` }));
    const share = served.filter((v) => v === 'v2').length / units;
    expect(share).toBeGreaterThan(0.22);
    expect(share).toBeLessThan(0.28);
    // The same units through the other router get the same variants.
    const again = await traffic(routerB, 'canary', 300, (i) => ({ unitKey: `user-${i}` }));
    expect(again).toEqual(served.slice(0, 300));
    const events = await waitFor(() => {
      const found = predictions.messages.filter((m) => m.value.deployment === 'canary');
      return found.length >= units + 300 && found;
    });
    const canaryEvent = events.find((m) => m.value.variant === 'v2')!.value;
    expect(canaryEvent).toMatchObject({ strategy: 'canary', specVersion: 1, probability: 0.25 });
    expect(events.find((m) => m.value.variant === 'v1')!.value.probability).toBe(0.75);
  });

  it('falls back to the primary when the canary fails, and records fallbackFrom', async () => {
    const spec = {
      variants: [
        { name: 'v1', url: modelServer.url, model: 'churn-v1' },
        { name: 'v2', url: modelServer.url, model: 'churn-broken' },
      ],
      strategy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 100 },
    };
    expect((await http('PUT', `${routerA.url}/v1/deployments/flaky`, spec, auth)).status).toBe(200);
    const answer = await predict(routerA, 'flaky', { requestId: 'flaky-1' });
    expect(answer.status).toBe(200);
    expect(answer.body.variant).toBe('v1');
    const event = await waitFor(() => predictions.messages.find((m) => m.key === 'flaky-1'));
    // The propensity is the choice's (v2, the canary of 100 %: 1), not the answering primary's (0).
    expect(event.value).toMatchObject({ variant: 'v1', fallbackFrom: 'v2', probability: 1 });
  });

  it('mirrors every shadow-deployment request to the shadow-requests topic without changing the answer', async () => {
    await put(routerA, 'shadowed', { type: 'shadow', primary: 'v1', shadows: ['v2', 'v3'] });
    const served = await traffic(routerA, 'shadowed', 50, (i) => ({ requestId: `shadow-${i}` }));
    expect(new Set(served)).toEqual(new Set(['v1']));
    const mirrored = await waitFor(() => {
      const found = shadowRequests.messages.filter((m) => m.value.deployment === 'shadowed');
      return found.length >= 50 && found;
    });
    expect(new Set(mirrored.map((m) => m.key)).size).toBe(50);
    expect(mirrored[0].value).toMatchObject({ type: 'shadow-request', shadows: ['v2', 'v3'], specVersion: 1, inputs });
    expect(mirrored[0].value.primaryOutputs[0].name).toBe('label');
  });

  it('samples bandit arms (uniform before any reward) and records the choice probability', async () => {
    await put(routerA, 'bandit', { type: 'bandit', algorithm: 'thompson', minShare: 0.05 });
    const served = await traffic(routerA, 'bandit', 600, () => ({}));
    for (const arm of ['v1', 'v2', 'v3']) expect(served.filter((v) => v === arm).length).toBeGreaterThan(120);
    const event = await waitFor(() => predictions.messages.find((m) => m.value.deployment === 'bandit'));
    expect(event.value.strategy).toBe('bandit');
    expect(event.value.probability).toBeGreaterThan(0.2);
    expect(event.value.probability).toBeLessThan(0.5);
  });

  // Router B refreshes its cache from Redis only once a minute: what it sees sooner came by pub/sub.
  it('shows a change made on one router to the other by pub/sub, and versions every change', async () => {
    await put(routerA, 'live', { type: 'single', variant: 'v1' });
    await waitFor(async () => (await predict(routerB, 'live', {})).body.variant === 'v1', { timeoutMs: 20000 });
    expect((await put(routerA, 'live', { type: 'single', variant: 'v2' })).body.version).toBe(2);
    await waitFor(async () => (await predict(routerB, 'live', {})).body.variant === 'v2', { timeoutMs: 20000, intervalMs: 20 });

    const promoted = await http('POST', `${routerB.url}/v1/deployments/live/promote`, { variant: 'v3' }, auth);
    expect(promoted.body).toMatchObject({ version: 3, strategy: { type: 'single', variant: 'v3' } });
    const rolledBack = await http('POST', `${routerA.url}/v1/deployments/live/rollback`, undefined, auth);
    expect(rolledBack.body).toMatchObject({ version: 4, strategy: { type: 'single', variant: 'v2' } });
    await waitFor(async () => (await predict(routerB, 'live', {})).body.variant === 'v2', { timeoutMs: 20000, intervalMs: 20 });

    const badPromote = await http('POST', `${routerA.url}/v1/deployments/live/promote`, { variant: 'v9' }, auth);
    expect(badPromote.status).toBe(400);
    expect((await http('DELETE', `${routerA.url}/v1/deployments/live`, undefined, auth)).status).toBe(204);
    await waitFor(async () => (await predict(routerB, 'live', {})).status === 404, { timeoutMs: 20000, intervalMs: 20 });
    expect((await http('POST', `${routerA.url}/v1/deployments/live/rollback`, undefined, auth)).status).toBe(404);

    const announced = await waitFor(() => {
      const found = deploymentEvents.messages.filter((m) => m.key === 'live' && m.value.type === 'deployment').map((m) => m.value);
      return found.length >= 5 && found;
    });
    expect(announced.map((e) => [e.action, e.specVersion])).toEqual([
      ['put', 1],
      ['put', 2],
      ['promote', 3],
      ['rollback', 4],
      ['delete', undefined],
    ]);
    expect(announced[3]).toMatchObject({ type: 'deployment', version: 1, deployment: 'live', detail: { restoredVersion: 2 } });
    // The operator's promote and rollback are decisions on the timeline too.
    const decided = deploymentEvents.messages.filter((m) => m.key === 'live' && m.value.type === 'decision').map((m) => m.value);
    expect(decided.map((e) => [e.action, e.fromVersion, e.toVersion, e.operator])).toEqual([
      ['promote', 2, 3, true],
      ['rollback', 3, 4, true],
    ]);
  });
});
