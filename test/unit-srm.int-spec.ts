import { randomFeatures, seededRng, toInferInputs } from '@switchyard/demo-models';
import { ReportStore } from '@switchyard/store';
import { assignCanary, canaryShare, sampleRatioMismatch, SRM_P_THRESHOLD } from '@switchyard/strategies';
import { feedbackJoinerService } from '../apps/feedback-joiner/src/feedback-joiner.service-definition';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { routerService } from '../apps/router/src/router.service-definition';
import { isolation } from './support/kafka';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

/**
 * Issue #24 over the real stack (router → model server → Kafka → joiner → Redis →
 * controller): a 10 % canary of sticky units, split exactly as it should be (20 of 200
 * units), whose canary units happen to send ten requests each and the primary's one. By
 * requests the canary got 200 of 380, which the request-counting rule reads as a broken
 * split; by distinct units it got 20 of 200, which is what a correct split gives.
 */
describe('rollout controller: the split check counts distinct units, not requests', () => {
  const ids = isolation('unit-srm');
  const { modelServer, router, joiner } = useStack({
    ids,
    services: {
      modelServer: modelServerService,
      router: [routerService, { KAFKA_INGRESS: 'false', REFRESH_INTERVAL_MS: '200' }],
      joiner: [feedbackJoinerService, { JOIN_GROUP: `joiner-${ids.groupSuffix}` }],
    },
    processes: { controller: ['rollout-controller', { ROLLOUT_INTERVAL_MS: '300' }] },
  });
  const NAME = 'sticky-units';
  const PERCENT = 10;
  const get = async () => (await http('GET', `${router.url}/v1/deployments/${NAME}`)).body;

  it('does not pause a correct split of heavy sticky units, which counting requests would', async () => {
    const variant = (name: string) => ({ name, url: modelServer.url, model: 'churn-v1', timeoutMs: 10000 });
    const put = await http('PUT', `${router.url}/v1/deployments/${NAME}`, {
      variants: [variant('v1'), variant('v2')],
      strategy: { type: 'canary', primary: 'v1', canary: 'v2', percent: PERCENT },
      guardrails: { minSamples: 100, maxSamples: 20000 },
    });
    expect(put.status).toBe(200);

    // Unit keys as the router's split assigns them: the first 20 canary units and 180 primary ones.
    const canaryUnits: string[] = [];
    const primaryUnits: string[] = [];
    for (let i = 0; canaryUnits.length < 20 || primaryUnits.length < 180; i++) {
      const unit = `unit-${i}`;
      const side = assignCanary(NAME, unit, PERCENT) === 'canary' ? canaryUnits : primaryUnits;
      if (side.length < (side === canaryUnits ? 20 : 180)) side.push(unit);
    }
    // Units arrive in the split's own proportion (one canary unit, then nine primary ones), so no pass sees a lopsided prefix.
    const requests = canaryUnits.flatMap((unit, j) => [
      ...Array.from({ length: 10 }, (_, i) => ({ unit, i })),
      ...primaryUnits.slice(9 * j, 9 * j + 9).map((primary) => ({ unit: primary, i: 0 })),
    ]);
    const queue = [...requests];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const { unit, i } = next;
          const answer = await http('POST', `${router.url}/v1/deployments/${NAME}/predict`, {
            requestId: `${ids.groupSuffix}-${unit}-${i}`,
            unitKey: unit,
            inputs: toInferInputs(randomFeatures(seededRng(requests.indexOf(next)))),
          });
          if (answer.status !== 200) throw new Error(`predict ${unit} ${i}: ${answer.status} ${JSON.stringify(answer.body)}`);
          expect(answer.body.variant).toBe(canaryUnits.includes(unit) ? 'v2' : 'v1');
        }
      }),
    );

    // A controller pass after the joiner counted every unit: its state names them, and the split check it ran on them.
    let judged: any;
    await waitFor(
      async () => {
        judged = (await get()).guardrails;
        return judged?.labels?.units?.v1 === 180 && judged.labels.units.v2 === 20;
      },
      { timeoutMs: 60000, intervalMs: 250, what: 'the controller to judge the 200 units' },
    );
    expect(judged.state).not.toBe('paused');
    expect(judged.lastDecision).toBeNull();
    expect(judged.evidence.srmP).toBeGreaterThan(SRM_P_THRESHOLD);

    // The same requests, as the request-counting rule would count them: a mismatch.
    const counters = await joiner.app.get(ReportStore).read(NAME);
    const served = { v2: Number(counters['v2:served:requests@1']), v1: Number(counters['v1:served:requests@1']) };
    expect(served).toEqual({ v2: 200, v1: 180 });
    const share = canaryShare(PERCENT);
    expect(sampleRatioMismatch(served, { v2: share, v1: 1 - share })!.p).toBeLessThan(SRM_P_THRESHOLD);
  });
});
