import { feedbackJoinerService } from '../apps/feedback-joiner/src/feedback-joiner.service-definition';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { routerService } from '../apps/router/src/router.service-definition';
import { randomFeatures, seededRng, toInferInputs } from '@switchyard/demo-models';
import { isolation } from './support/kafka';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

/** What `health` and the verdict must say beside each plan state (docs/operations.md, "Reading the state"). */
const AGREES: Record<string, { health: string; verdict: string }> = {
  waiting: { health: 'Progressing', verdict: 'continue' },
  running: { health: 'Progressing', verdict: 'continue' },
  passed: { health: 'Progressing', verdict: 'continue' },
  paused: { health: 'Paused', verdict: 'pause' },
  inconclusive: { health: 'Paused', verdict: 'pause' },
  failed: { health: 'Degraded', verdict: 'rollback' },
  done: { health: 'Progressing', verdict: 'promote' },
};

interface View {
  version: number;
  strategy: { type: string };
  status?: object;
  health: { state: string; reason: string };
  plan?: { state: string; reasons: string[]; since?: string };
  guardrails?: { state: string; reasons: string[] };
  served: {
    since: string;
    requests: number;
    shares: Record<string, number>;
    recent: { minutes: number; requests: number; shares: Record<string, number> } | null;
  } | null;
}

/**
 * Operator actions on a plan over the real router and a rollout-controller process: what
 * `status`, the dashboard, `list` and Argo/Flagger read (the GET's `health` and `plan`
 * block, the verdict) agree on every read, right after each action and across the
 * controller's passes; and served over the last minutes beside since the rev.
 */
describe('state: health, the plan block and the verdict agree at every read', () => {
  const ids = isolation('state');
  const { modelServer, router } = useStack({
    ids,
    services: {
      modelServer: modelServerService,
      router: [routerService, { KAFKA_INGRESS: 'false', REFRESH_INTERVAL_MS: '200' }],
      joiner: [feedbackJoinerService, { JOIN_GROUP: `joiner-${ids.groupSuffix}` }],
    },
    processes: { controller: ['rollout-controller', { ROLLOUT_INTERVAL_MS: '300' }] },
  });
  const name = 'state-plan';
  const failures: string[] = [];
  const url = () => `${router.url}/v1/deployments/${name}`;

  async function get(): Promise<View> {
    const answer = await http('GET', url());
    if (answer.status !== 200) throw new Error(`GET: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  }

  async function act(action: string): Promise<void> {
    const answer = await http('POST', `${url()}/${action}`);
    if (answer.status !== 200) throw new Error(`${action}: ${answer.status} ${JSON.stringify(answer.body)}`);
  }

  /**
   * One read: the GET, the verdict, the GET again. Within one GET `health` and the block
   * must agree; the verdict, a second request, is held to them when nothing changed in between.
   */
  async function read(): Promise<View> {
    const before = await get();
    const verdict = (await http('GET', `${url()}/verdict`)).body;
    const after = await get();
    try {
      agree(before, verdict, after);
    } catch (error) {
      // Kept, not only thrown: a read inside `waitFor` would be retried, its disagreement lost.
      failures.push(`${(error as Error).message}\nread: ${JSON.stringify({ verdict, after: { ...after, report: undefined } })}`);
      throw error;
    }
    return after;
  }

  function agree(before: View, verdict: { decision: string; reason: string }, after: View): void {
    const block = after.plan ?? after.guardrails;
    if (after.strategy.type === 'plan') {
      expect({ state: block!.state, health: after.health.state }).toEqual({ state: block!.state, health: AGREES[block!.state].health });
    } else {
      // An abort leaves a single: no candidate serves, the plan it ended is held.
      expect(after.health.state).toBe('Degraded');
      expect(block!.reasons[0]).toMatch(/^no candidate serves: v1 answers alone/);
    }
    const fields = (v: View) => JSON.stringify([v.version, v.status, v.health, v.plan?.state, v.plan?.reasons, v.guardrails?.state]);
    if (fields(before) === fields(after)) {
      expect(verdict.decision).toBe(after.strategy.type === 'plan' ? AGREES[block!.state].verdict : 'rollback');
      if (after.strategy.type === 'plan') expect(verdict.reason).toBe(block!.reasons.join('; ') || block!.state);
    }
  }

  it('after pause, resume, abort and retry, at once and after the controller passes', async () => {
    const spec = {
      variants: [
        { name: 'v1', url: modelServer.url, model: 'churn-v1', timeoutMs: 10000 },
        { name: 'v2', url: modelServer.url, model: 'churn-v3', timeoutMs: 10000 },
      ],
      // No labels are sent: the canary step waits for its pairs as long as the test runs.
      strategy: { type: 'plan', primary: 'v1', candidate: 'v2', steps: [{ canary: 50 }, { pause: {} }, { promote: true }] },
    };
    expect((await http('PUT', url(), spec)).status).toBe(200);
    await waitFor(async () => (await read()).plan?.since, { what: 'the first pass' });

    // Served since rev 1 and over the last minutes: every request sent, counted by the joiner.
    const rng = seededRng(7);
    for (let i = 0; i < 20; i++) {
      const answer = await http('POST', `${url()}/predict`, { requestId: `state-${i}`, inputs: toInferInputs(randomFeatures(rng)) });
      expect(answer.status).toBe(200);
    }
    const served = await waitFor(
      async () => {
        const view = await get();
        return view.served?.requests === 20 && view.served.recent?.requests === 20 && view.served;
      },
      { what: 'the 20 requests served, since rev 1 and over the last minutes' },
    );
    expect(served.recent).toEqual({ minutes: 5, requests: 20, shares: served.shares });
    expect(served.shares.v1 + served.shares.v2).toBeCloseTo(1);

    // Reads all along, across the controller's passes (each read checks agreement itself).
    let stop = false;
    let reads = 0;
    const poller = (async () => {
      while (!stop) {
        try {
          await read();
          reads++;
        } catch {
          stop = true;
        }
      }
    })();
    const readsPast = async (n: number) => {
      const until = reads + n;
      await waitFor(async () => reads >= until || failures.length > 0, { what: `${n} more reads` });
    };

    try {
      await act('plan/pause');
      // At once: before the controller's next pass.
      expect(await read()).toMatchObject({
        plan: { state: 'paused', reasons: ['step 1 of 3 (canary) is paused; resume to go on'] },
        health: { state: 'Paused' },
      });
      await readsPast(5);

      await act('plan/resume');
      const resumed = await read();
      expect(resumed.health.state).toBe('Progressing');
      expect(['waiting', 'running']).toContain(resumed.plan!.state);
      await waitFor(async () => !(await read()).plan!.reasons[0].includes('resumed, not judged yet'), { what: 'the pass after the resume' });

      await act('plan/abort');
      expect(await read()).toMatchObject({ strategy: { type: 'single' }, health: { state: 'Degraded' }, guardrails: { state: 'done' } });
      await readsPast(5);

      await act('retry');
      // The retried plan is rev 3 at step 1, the subject its old state judged: waiting (not
      // judged at this rev yet, or judged and waiting for pairs), never the old state's word.
      expect(await read()).toMatchObject({ version: 3, plan: { state: 'waiting' }, health: { state: 'Progressing' } });
      await waitFor(async () => (await read()).plan?.since, { what: 'the pass over the retried rev' });
      await readsPast(3);
    } finally {
      stop = true;
      await poller;
    }
    expect(failures).toEqual([]);
  }, 180000);
});
