import { topicNames } from '@switchyard/contracts';
import { toInferInputs } from '@switchyard/demo-models';
import { BanditWeightsStore } from '@switchyard/store';
import { banditUpdaterService } from '../apps/bandit-updater/src/bandit-updater.service-definition';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { isolation } from './support/kafka';
import { http } from './support/services';
import { useStack } from './support/stack';
import { joinedEvent, sendEvents } from './support/events';
import { waitFor } from './support/wait';

const REWARDS = 60;

/**
 * Bandit weights are computed once, by the updater, and every router serves them: two
 * router processes on one bandit deployment log the same `weightsVersion`, the one the
 * updater stored in Redis and published on deployment-events. The routers' refresh timer
 * is set far beyond the test, so they can only have the weights from the store's
 * announcement.
 */
describe('bandit weights: computed once by the updater, served alike by every router', () => {
  const ids = isolation('bandit-weights');
  const topics = topicNames(ids.topicPrefix);
  const routerEnv = { KAFKA_INGRESS: 'false', REFRESH_INTERVAL_MS: '60000', LOG_LEVEL: 'warn' };
  const { modelServer, updater, routerA, routerB, producer, predictions, deploymentEvents } = useStack({
    ids,
    services: {
      modelServer: modelServerService,
      updater: [banditUpdaterService, { UPDATE_GROUP: `updater-${ids.groupSuffix}`, SNAPSHOT_INTERVAL_MS: '300' }],
    },
    processes: { routerA: ['router', routerEnv], routerB: ['router', routerEnv] },
    producer: true,
    collect: { predictions: 'predictions', deploymentEvents: 'deploymentEvents' },
  });
  const routers = [routerA, routerB];

  it('both routers log the weightsVersion the updater stored and published', async () => {
    const put = await http('PUT', `${routers[0].url}/v1/deployments/churn`, {
      variants: [1, 2].map((n) => ({ name: `v${n}`, url: modelServer.url, model: `churn-v${n}` })),
      strategy: { type: 'bandit', algorithm: 'thompson', minShare: 0.05 },
      reward: { type: 'match' },
    });
    expect(put.status).toBe(200);
    // The updater follows the new arms, then computes the first (uniform-prior) weights.
    await waitFor(() => deploymentEvents.messages.some((m) => m.value.action === 'weights' && m.value.deployment === 'churn'), {
      what: 'the first weights of the new bandit',
    });

    // Rewards as the joiner would publish them: v2 always right, v1 never.
    const joined = Array.from({ length: REWARDS }, (_, i) =>
      joinedEvent({ requestId: `seed-${i}`, deployment: 'churn', variant: i % 2 ? 'v2' : 'v1', reward: i % 2 }),
    );
    await sendEvents(producer, topics.joined, joined);

    // The snapshot computed from all of them: its version is what the routers must serve.
    const snapshot = await waitFor(
      () =>
        deploymentEvents.messages.find((m) => m.value.action === 'weights' && m.value.deployment === 'churn' && m.value.detail.stats.v2.count === REWARDS / 2),
      { what: 'the weights computed from every reward' },
    );
    const { weightsVersion, weights } = snapshot.value.detail;
    expect(weightsVersion).toBeGreaterThanOrEqual(1);
    expect(weights.v2).toBeGreaterThan(weights.v1);
    const store = updater.app.get(BanditWeightsStore);
    const stored = (await store.readMany(['churn'])).get('churn')!;
    // Nothing changed since, so nothing newer was computed.
    expect({ version: stored.version, weights: { ...stored.weights } }).toEqual({ version: weightsVersion, weights });

    // Each router reads the stored weights when they are announced: ask both until both log that version.
    let sequence = 0;
    const latestVersionOf = (router: number) =>
      predictions.messages.filter((m) => m.value.requestId.startsWith(`r${router}-`)).at(-1)?.value.weightsVersion as number | undefined;
    await waitFor(
      async () => {
        sequence++;
        for (const [i, router] of routers.entries()) {
          const answer = await http('POST', `${router.url}/v1/deployments/churn/predict`, {
            requestId: `r${i}-${sequence}`,
            inputs: toInferInputs([0.1, 0.2, 0.3, 0.4]),
          });
          if (answer.status !== 200) throw new Error(`predict: ${answer.status} ${JSON.stringify(answer.body)}`);
        }
        await waitFor(() => predictions.messages.some((m) => m.value.requestId === `r1-${sequence}`), { what: 'the prediction events' });
        return latestVersionOf(0) === weightsVersion && latestVersionOf(1) === weightsVersion;
      },
      { intervalMs: 100, what: `both routers to serve weights version ${weightsVersion}` },
    );
    const served = predictions.messages.filter((m) => /^r[01]-/.test(m.value.requestId));
    // Before they caught up a router served uniform weights (no version) or an earlier one, never a later one.
    for (const message of served) expect(message.value.weightsVersion ?? 0).toBeLessThanOrEqual(weightsVersion);

    // Each router's /metrics shows the weights it serves, as stored: Prometheus reads them where they are applied.
    for (const router of routers) {
      const metrics = String((await http('GET', `${router.url}/metrics`)).body);
      const gauge = (name: string, labels: string) => Number(new RegExp(`^${name}\\{${labels},service="router"\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
      expect(gauge('switchyard_router_bandit_weight', 'deployment="churn",variant="v1"')).toBeCloseTo(weights.v1, 9);
      expect(gauge('switchyard_router_bandit_weight', 'deployment="churn",variant="v2"')).toBeCloseTo(weights.v2, 9);
      expect(gauge('switchyard_router_bandit_weights_version', 'deployment="churn"')).toBe(weightsVersion);
    }
  });
});
