import { topicNames } from '@switchyard/contracts';
import { toInferInputs } from '@switchyard/demo-models';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { collect, isolation, testKafka } from './support/kafka';
import { freePort, spawnService } from './support/processes';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

describe('router process on SIGTERM', () => {
  const ids = isolation('shutdown');
  const { modelServer } = useStack({ ids, services: { modelServer: modelServerService } });

  it('finishes the request in flight, publishes its event, and exits 0', async () => {
    const router = await spawnService('router', await freePort(), {
      TOPIC_PREFIX: ids.topicPrefix,
      REDIS_PREFIX: ids.redisPrefix,
      INGRESS_GROUP: `router-${ids.groupSuffix}`,
    });
    const predictions = await collect(testKafka(), topicNames(ids.topicPrefix).predictions);
    try {
      const put = await http('PUT', `${router.url}/v1/deployments/slow`, {
        variants: [{ name: 'v1', url: modelServer.url, model: 'churn-slow', timeoutMs: 5000 }],
        strategy: { type: 'single', variant: 'v1' },
      });
      expect(put.status).toBe(200);
      const inFlight = http('POST', `${router.url}/v1/deployments/slow/predict`, { inputs: toInferInputs([0.1, 0.2, 0.3, 0.4]), requestId: 'in-flight' });
      // The slow model answers after 2 s: signal while the request is surely in flight.
      await new Promise((resolve) => setTimeout(resolve, 500));
      router.child.kill('SIGTERM');

      const answer = await inFlight;
      expect(answer.status).toBe(200);
      expect(answer.body.variant).toBe('v1');
      expect(await router.exited).toBe(0);
      expect(router.output()).toContain('draining');
      await waitFor(() => predictions.messages.find((m) => m.key === 'in-flight'), { what: 'the in-flight prediction event' });
    } finally {
      router.child.kill('SIGKILL');
      await predictions.stop();
    }
  });

  it('refuses to start with an invalid environment and says which variable is wrong', async () => {
    await expect(spawnService('router', await freePort(), { TOPIC_PARTITIONS: 'many' })).rejects.toThrow(
      /exited with 2: .*Invalid environment variables: TOPIC_PARTITIONS="many"/s,
    );
  });
});
