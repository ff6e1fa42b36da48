import { topicNames } from '@switchyard/contracts';
import { groundTruth, randomFeatures, seededRng, toInferInputs } from '@switchyard/demo-models';
import { ArmStatsStore, ReportStore, RolloutStateStore } from '@switchyard/store';
import { type ArmStats, reportFields, splitKey } from '@switchyard/strategies';
import { RolloutReconciler } from '../apps/rollout-controller/src/rollout/rollout.reconciler';
import { rolloutControllerService } from '../apps/rollout-controller/src/rollout-controller.service-definition';
import { banditUpdaterService } from '../apps/bandit-updater/src/bandit-updater.service-definition';
import { feedbackJoinerService } from '../apps/feedback-joiner/src/feedback-joiner.service-definition';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { routerService } from '../apps/router/src/router.service-definition';
import { shadowWorkerService } from '../apps/shadow-worker/src/shadow-worker.service-definition';
import { isolation, readThrough, testKafka } from './support/kafka';
import { ServiceProcess } from './support/processes';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

const GUARDRAILS = { alpha: 0.05, minSamples: 100, maxSamples: 20000, onFail: 'rollback', onPass: 'hold' };

/**
 * The rollout controller over the real stack: router → model-server → Kafka → joiner →
 * updater → Redis statistics → two controller processes at once, judging on their own.
 */
describe('rollout controller: guardrails act on joined ground truth', () => {
  const ids = isolation('rollout');
  const topics = topicNames(ids.topicPrefix);
  const { modelServer, router, controllerA, controllerB, events } = useStack({
    ids,
    services: {
      modelServer: modelServerService,
      router: [routerService, { KAFKA_INGRESS: 'false', REFRESH_INTERVAL_MS: '200' }],
      shadowWorker: [shadowWorkerService, { SHADOW_GROUP: `shadow-${ids.groupSuffix}` }],
      joiner: [feedbackJoinerService, { JOIN_GROUP: `joiner-${ids.groupSuffix}` }],
      updater: [banditUpdaterService, { UPDATE_GROUP: `updater-${ids.groupSuffix}` }],
    },
    processes: {
      controllerA: ['rollout-controller', { ROLLOUT_INTERVAL_MS: '300', INSTANCE_ID: 'controller-a' }],
      controllerB: ['rollout-controller', { ROLLOUT_INTERVAL_MS: '300', INSTANCE_ID: 'controller-b' }],
    },
    collect: { events: 'deploymentEvents' },
  });
  const controllers = [controllerA, controllerB];

  // The model server runs in this test's process: on a loaded machine an answer can take
  // over the default second, and a timeout here is not what these tests are about.
  const variant = (name: string, model: string) => ({ name, url: modelServer.url, model, timeoutMs: 10000 });

  /** The first controller pass takes the comparison's baseline: what is sent before it would not be counted. */
  const firstPass = (name: string, block = 'guardrails') =>
    waitFor(async () => (await http('GET', `${router.url}/v1/deployments/${name}`)).body[block]?.since, { what: `the first pass over ${name}` });

  async function put(name: string, spec: object) {
    const answer = await http('PUT', `${router.url}/v1/deployments/${name}`, spec);
    if (answer.status !== 200) throw new Error(`PUT ${name}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  }

  /** `count` predictions, each labelled right after its answer, as a client with ground truth would. */
  async function traffic(deployment: string, count: number, seed: number, stop: () => boolean = () => false): Promise<number> {
    const rng = seededRng(seed);
    let next = 0;
    let sent = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < count && !stop()) {
          const i = next++;
          const features = randomFeatures(rng);
          const requestId = `${deployment}-${seed}-${i}`;
          const answer = await http('POST', `${router.url}/v1/deployments/${deployment}/predict`, { requestId, inputs: toInferInputs(features) });
          if (answer.status !== 200) throw new Error(`predict ${i}: ${answer.status} ${JSON.stringify(answer.body)}`);
          const feedback = await http('POST', `${router.url}/v1/feedback`, { requestId, label: groundTruth(features) });
          if (feedback.status !== 202) throw new Error(`feedback ${i}: ${feedback.status}`);
          sent++;
        }
      }),
    );
    return sent;
  }

  const decisionsOf = (deployment: string) =>
    events.messages.filter((m) => m.value?.type === 'decision' && m.value.deployment === deployment).map((m) => m.value);

  /** Traffic with labels until `done` says the rollout has finished; the final GET, the requests sent and the decisions published. */
  /** Over once the spec is `single` and the decision that made it so is published (its version known). */
  const settled = (body: any) => body.strategy.type === 'single' && !!body.guardrails?.lastDecision?.toVersion;

  async function walk(name: string, seed: number, done: (spec: any) => boolean = settled) {
    let finished = false;
    const watch = waitFor(
      async () => {
        const body = (await http('GET', `${router.url}/v1/deployments/${name}`)).body;
        finished = done(body);
        return finished && body;
      },
      { timeoutMs: 180000, intervalMs: 250, what: `${name} to finish` },
    );
    const [spec, sent] = await Promise.all([watch, traffic(name, 40000, seed, () => finished)]);
    await readThrough(testKafka(), topics.deploymentEvents, events);
    return { spec, sent, decisions: decisionsOf(name) };
  }

  /** Decisions on `deployment` one controller process has published, from its /metrics (which answers only while it is up). */
  async function decisionsCounted(controller: ServiceProcess, deployment: string): Promise<number> {
    const metrics = await http('GET', `${controller.url}/metrics`);
    expect(metrics.status).toBe(200);
    const lines = String(metrics.body)
      .split('\n')
      .filter((line) => line.startsWith('switchyard_rollout_decisions_total{') && line.includes(`deployment="${deployment}"`));
    return lines.reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
  }

  /** The gauges of `deployment` on the /metrics of both controllers (one holds its lease), by series. */
  async function gaugesOf(deployment: string): Promise<Map<string, number>> {
    const series = new Map<string, number>();
    for (const controller of controllers) {
      const text = String((await http('GET', `${controller.url}/metrics`)).body);
      for (const [, name, labels, value] of text.matchAll(/^(switchyard_rollout_[a-z_]+)\{([^}]*)\} (\S+)$/gm)) {
        // Without the `service` label every series of the process carries.
        const own = labels.replace(/,?service="[^"]*"/, '');
        if (!name.endsWith('_total') && own.includes(`deployment="${deployment}"`)) series.set(`${name}{${own}}`, Number(value));
      }
    }
    return series;
  }

  it('answers 400 naming the field for bad guardrails and bad plans, and stores nothing', async () => {
    const variants = [variant('v1', 'churn-v1'), variant('v3', 'churn-v3')];
    const plan = (steps: object[], extra: object = {}) => ({ type: 'plan', primary: 'v1', candidate: 'v3', steps, ...extra });
    const refused = async (spec: object, field: string) => {
      const answer = await http('PUT', `${router.url}/v1/deployments/refused`, { variants, ...spec });
      expect(answer.status).toBe(400);
      expect(answer.body.problems).toEqual([expect.stringContaining(field)]);
    };
    const canary = { type: 'canary', primary: 'v1', canary: 'v3', percent: 10 };
    await refused({ strategy: canary, guardrails: { alpha: 0.9 } }, 'guardrails.alpha');
    await refused({ strategy: canary, guardrails: { minSamples: 500, maxSamples: 100 } }, 'guardrails.maxSamples');
    await refused({ strategy: plan([{ canary: 5 }, { canary: 25 }]) }, 'strategy.steps: a plan must end with {"promote": true}');
    await refused({ strategy: plan([{ canary: 25 }, { canary: 5 }, { promote: true }]) }, 'strategy.steps.1.canary');
    await refused({ strategy: plan([{ canary: 5 }, { promote: true }], { candidate: 'v9' }) }, 'strategy.candidate: unknown variant "v9"');
    expect((await http('GET', `${router.url}/v1/deployments/refused`)).status).toBe(404);
  });

  it('rolls a bad canary back by itself, once, with evidence that shows why', async () => {
    await put('bad-canary', {
      variants: [variant('v3', 'churn-v3'), variant('v1', 'churn-v1')],
      strategy: { type: 'canary', primary: 'v3', canary: 'v1', percent: 50 },
      guardrails: GUARDRAILS,
    });
    await firstPass('bad-canary');

    const { spec, sent, decisions } = await walk('bad-canary', 11);

    expect(spec.strategy).toEqual({ type: 'single', variant: 'v3' });
    expect(spec.version).toBe(2);
    expect(spec.guardrails).toMatchObject({ state: 'failed', lastDecision: { action: 'rollback', fromVersion: 1, toVersion: 2 } });

    // Two controller processes ran all along, both still up: one decision, not two, on
    // the topic and in their counters together.
    expect(decisions).toHaveLength(1);
    const published = await Promise.all(controllers.map((controller) => decisionsCounted(controller, 'bad-canary')));
    expect(published.reduce((sum, count) => sum + count, 0)).toBe(1);
    // The spec serves the primary alone now: no controller shows a status for it, so SwitchyardGuardrailFailed clears.
    await waitFor(async () => ![...(await gaugesOf('bad-canary')).keys()].some((key) => key.startsWith('switchyard_rollout_status{')), {
      what: "bad-canary's status gone from the controllers' /metrics",
    });
    const [decision] = decisions;
    expect(decision).toMatchObject({ action: 'rollback', fromVersion: 1, toVersion: 2, candidate: 'v1', primary: 'v3', version: 1 });
    const { n, mean, delta, low, high, alpha } = decision.evidence;
    expect(alpha).toBe(0.05);
    expect(n.v1).toBeGreaterThanOrEqual(GUARDRAILS.minSamples);
    expect(n.v3).toBeGreaterThanOrEqual(GUARDRAILS.minSamples);
    expect(delta).toBeCloseTo(mean.v1 - mean.v3, 9);
    expect(low).toBeLessThan(delta);
    expect(high).toBeLessThan(0);
    expect(mean.v1).toBeGreaterThan(0.55);
    expect(mean.v1).toBeLessThan(0.85);
    expect(mean.v3).toBeGreaterThan(0.8);
    // Counted pairs never exceed what was labelled.
    expect(n.v1 + n.v3).toBeLessThanOrEqual(sent);
    process.stdout.write(`rollout: rolled back after ${sent} requests sent; evidence ${JSON.stringify(decision.evidence)}\n`);
  });

  /**
   * A plan judged on its reward alone. Its shadow step's latency is measured by the shadow
   * worker, whose bursts of up to 32 calls share this test's event loop with the model
   * server: on a loaded machine that p99 can exceed the default 2× the primary's (served 8
   * at a time) and decide the gate before the reward does.
   */
  const REWARD_ONLY = { minSamples: 100, maxLatencyRatio: 1000, maxErrorRateIncrease: 1 };

  const PLAN_STEPS = [
    { shadow: { minSamples: 100 } },
    { canary: 5 },
    { canary: 25 },
    { canary: 50 },
    { bandit: { algorithm: 'thompson', minSamples: 300, minShare: 0.2 } },
    { promote: true },
  ];

  it('walks a good candidate from shadow to full traffic with no human step', async () => {
    // Six gates, each waiting for labels to join: the longest test of the suite.
    await put('good-plan', {
      variants: [variant('v1', 'churn-v1'), variant('v3', 'churn-v3')],
      strategy: { type: 'plan', primary: 'v1', candidate: 'v3', steps: PLAN_STEPS },
      guardrails: REWARD_ONLY,
    });
    // The last plan block seen before the promotion: the step i of n, and the transitions so far.
    let planBlock: any;
    const { spec, sent, decisions } = await walk('good-plan', 31, (body) => {
      planBlock = body.plan ?? planBlock;
      return settled(body);
    });
    expect(spec.strategy).toEqual({ type: 'single', variant: 'v3' });
    expect(planBlock).toMatchObject({ of: 6 });
    expect(planBlock.step).toBeGreaterThanOrEqual(5);
    expect(planBlock.history.length).toBeGreaterThanOrEqual(planBlock.step - 1);
    expect(decisions.map((d) => d.action)).toEqual(['advance', 'advance', 'advance', 'advance', 'advance', 'promote']);
    // Polled, the last plan block may be read after the promotion was recorded and before the spec changed.
    expect(planBlock.history.map((d: any) => d.action)).toEqual(decisions.slice(0, planBlock.history.length).map((d) => d.action));
    // A step is rollout status, not a spec: only the promotion wrote a version.
    expect(decisions.map((d) => d.fromVersion)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(decisions.map((d) => d.toVersion)).toEqual([1, 1, 1, 1, 1, 2]);
    expect(spec.version).toBe(2);
    const kinds = ['shadow', 'canary', 'canary', 'canary', 'bandit', 'promote'];
    decisions.forEach((d, i) => expect(d.reason).toMatch(new RegExp(`^step ${i + 1} of 6 \\(${kinds[i]}\\)`)));
    // Each gate counted its own step's pairs, with the candidate ahead.
    for (const d of decisions.slice(0, 5)) {
      const candidateArm = Object.keys(d.evidence.n).find((arm) => arm.startsWith('v3'))!;
      expect(d.evidence.n[candidateArm]).toBeGreaterThanOrEqual(100);
      expect(d.evidence.low).toBeGreaterThan(-0.01);
    }
    process.stdout.write(`plan: promoted after ${sent} requests; gates passed at ${JSON.stringify(decisions.map((d) => d.evidence.n))}\n`);
  }, 240000);

  it('rolls a bad candidate back at its first gate with labels', async () => {
    await put('bad-plan', {
      variants: [variant('v3', 'churn-v3'), variant('v1', 'churn-v1')],
      strategy: { type: 'plan', primary: 'v3', candidate: 'v1', steps: PLAN_STEPS },
      guardrails: REWARD_ONLY,
    });
    const { spec, decisions } = await walk('bad-plan', 37);
    expect(spec.strategy).toEqual({ type: 'single', variant: 'v3' });
    expect(decisions).toHaveLength(1);
    const [decision] = decisions;
    expect(decision).toMatchObject({ action: 'rollback', fromVersion: 1, toVersion: 2, candidate: 'v1', primary: 'v3' });
    // Operational failures come first in a reason: one that opens on the reward failed on it alone.
    expect(decision.reason).toMatch(/^step 1 of 6 \(shadow\): reward: v1:shadow − v3 ≤ /);
    const { n, high, paired } = decision.evidence;
    expect(n['v1:shadow']).toBeGreaterThanOrEqual(100);
    expect(n.v3).toBeGreaterThanOrEqual(100);
    expect(high).toBeLessThan(0);
    // Both arms answered each request: the gate was decided on the pairs the updater made of them.
    expect(paired).toBe(true);
    process.stdout.write(`rollout: shadow gate decided on paired differences: ${JSON.stringify(decision.evidence)}\n`);
  });

  it("rolls a bad paired canary back on paired differences: the primary also answered the canary's requests", async () => {
    // The canary step comes after a pause, so its requests (and the primary's shadow answers) carry the step.
    await put('paired-canary', {
      variants: [variant('v3', 'churn-v3'), variant('v1', 'churn-v1')],
      strategy: { type: 'plan', primary: 'v3', candidate: 'v1', pairWithPrimary: true, steps: [{ pause: { seconds: 1 } }, { canary: 50 }, { promote: true }] },
      guardrails: REWARD_ONLY,
    });
    const { spec, decisions } = await walk('paired-canary', 41);
    expect(spec.strategy).toEqual({ type: 'single', variant: 'v3' });
    expect(decisions.map((d) => d.action)).toEqual(['advance', 'rollback']);
    const decision = decisions[1];
    expect(decision.reason).toMatch(/^step 2 of 3 \(canary\): reward: v1 − v3 ≤ /);
    const { n, high, paired } = decision.evidence;
    expect(n.v1).toBeGreaterThanOrEqual(100);
    expect(n.v3).toBeGreaterThanOrEqual(100);
    expect(high).toBeLessThan(0);
    // Judged on the pairs of the step's own split key (version 1, step 1): the primary's shadow answers carried the step.
    expect(paired).toBe(true);
    process.stdout.write(`rollout: paired canary decided on paired differences: ${JSON.stringify(decision.evidence)}\n`);
  });

  it("keeps a step's evidence across pause and resume, and abort returns to the primary", async () => {
    await put('held-plan', {
      variants: [variant('v1', 'churn-v1'), variant('v3', 'churn-v3')],
      strategy: { type: 'plan', primary: 'v1', candidate: 'v3', steps: [{ canary: 50 }, { promote: true }] },
      // A gate that cannot pass within the test: the step stays open.
      guardrails: { minSamples: 1_000_000, maxSamples: 1_000_000 },
    });
    const get = async () => (await http('GET', `${router.url}/v1/deployments/held-plan`)).body;
    await firstPass('held-plan', 'plan');
    await traffic('held-plan', 300, 41);
    const before = await waitFor(
      async () => {
        const body = await get();
        return (body.plan.evidence?.n?.v1 ?? 0) + (body.plan.evidence?.n?.v3 ?? 0) >= 300 && body;
      },
      { what: 'the step to count 300 pairs' },
    );
    expect(before.plan).toMatchObject({ step: 1, of: 2, kind: 'canary', paused: false, state: 'waiting' });

    // What the controller judges, on its /metrics: the plan step, each variant's reward and interval, the guardrail's.
    const gauges = await waitFor(
      async () => {
        const found = await gaugesOf('held-plan');
        return found.get('switchyard_rollout_reward_pairs{deployment="held-plan",variant="v3",role="served"}')! >= before.plan.evidence.n.v3 && found;
      },
      { what: "held-plan's gauges on a controller's /metrics" },
    );
    expect(gauges.get('switchyard_rollout_plan_step{deployment="held-plan"}')).toBe(1);
    expect(gauges.get('switchyard_rollout_plan_steps{deployment="held-plan"}')).toBe(2);
    expect(gauges.get('switchyard_rollout_status{deployment="held-plan",status="waiting"}')).toBe(1);
    for (const variant of ['v1', 'v3']) {
      const labels = `{deployment="held-plan",variant="${variant}",role="served"}`;
      const reward = gauges.get(`switchyard_rollout_reward${labels}`)!;
      expect(gauges.get(`switchyard_rollout_reward_low${labels}`)).toBeLessThan(reward);
      expect(gauges.get(`switchyard_rollout_reward_high${labels}`)).toBeGreaterThan(reward);
    }
    const [delta, low, high] = ['delta', 'low', 'high'].map((bound) => gauges.get(`switchyard_rollout_guardrail_${bound}{deployment="held-plan"}`)!);
    expect(low).toBeLessThan(delta);
    expect(high).toBeGreaterThan(delta);

    const admin = (action: string) => http('POST', `${router.url}/v1/deployments/held-plan/plan/${action}`);
    // A pause is rollout status: no new version.
    expect((await admin('pause')).body).toMatchObject({ version: before.version, status: { paused: true } });
    const paused = await waitFor(
      async () => {
        const body = await get();
        return body.plan.state === 'paused' && body.plan.judgedVersion === body.version && body;
      },
      { what: 'the controller to see the pause' },
    );
    expect(paused.plan.since).toBe(before.plan.since);

    const resuming = (await admin('resume')).body;
    expect(resuming.version).toBe(before.version);
    expect(resuming.status.paused).toBeUndefined();
    await traffic('held-plan', 100, 43);
    const resumed = await waitFor(
      async () => {
        const body = await get();
        const n = body.plan.evidence?.n ?? {};
        return body.plan.judgedVersion === body.version && (n.v1 ?? 0) + (n.v3 ?? 0) >= 400 && body;
      },
      { what: 'the resumed step to count on' },
    );
    // Same step, same start: the pairs before the pause still count.
    expect(resumed.plan.since).toBe(before.plan.since);

    const aborted = await admin('abort');
    expect(aborted.body.strategy).toEqual({ type: 'single', variant: 'v1' });
    await waitFor(
      async () => (await http('POST', `${router.url}/v1/deployments/held-plan/predict`, { inputs: toInferInputs([0.1, 0.2, 0.3, 0.4]) })).body.variant === 'v1',
      { what: 'the primary to serve' },
    );
    expect((await admin('abort')).status).toBe(400);
    expect((await admin('explode')).status).toBe(404);
  });

  it('leaves a canary as good as its primary in place over 3000 labelled requests', async () => {
    await put('even-canary', {
      variants: [variant('v3', 'churn-v3'), variant('v3b', 'churn-v3')],
      strategy: { type: 'canary', primary: 'v3', canary: 'v3b', percent: 50 },
      guardrails: GUARDRAILS,
    });
    await firstPass('even-canary');
    await traffic('even-canary', 3000, 23);
    // Judged on every labelled pair: wait until the comparison has counted them all.
    const spec = await waitFor(
      async () => {
        const body = (await http('GET', `${router.url}/v1/deployments/even-canary`)).body;
        const n = body.guardrails?.evidence?.n ?? {};
        return ((n.v3 ?? 0) + (n.v3b ?? 0) >= 3000 || body.guardrails?.state !== 'running') && body;
      },
      { timeoutMs: 60000, what: 'all 3000 pairs to be judged' },
    );
    expect(spec.strategy.type).toBe('canary');
    expect(spec.version).toBe(1);
    expect(['running', 'passed']).toContain(spec.guardrails.state);
    await readThrough(testKafka(), topics.deploymentEvents, events);
    expect(decisionsOf('even-canary').filter((d) => d.action === 'rollback')).toEqual([]);
  });

  // Last: the tests above need the controllers running.
  it('stops both controller processes on SIGTERM, each exiting 0', async () => {
    for (const controller of controllers) controller.child.kill('SIGTERM');
    expect(await Promise.all(controllers.map((controller) => controller.exited))).toEqual([0, 0]);
  });
});

/** Compare-and-set against a human: the controller's read is stale by the time it writes. */
describe('rollout controller: a human edit between read and write wins', () => {
  const ids = isolation('rollout-race');
  const { controller, specs } = useStack({
    ids,
    // A pass only when called: the test decides what the controller has read.
    services: { controller: [rolloutControllerService, { ROLLOUT_INTERVAL_MS: '600000' }] },
    specLog: true,
  });

  /** Labelled pairs of `arms` served under spec version `version`, an hour ago. */
  function seedCohort(deployment: string, version: number, arms: Record<string, ArmStats>): Promise<void> {
    const servedBefore = Math.floor(Date.now() / 1000) - 3600;
    const cells = Object.entries(arms).map(([arm, stats]) => ({ arm, key: splitKey(version), servedFrom: servedBefore - 60, servedBefore, stats }));
    return controller.app.get(ArmStatsStore).writeCohorts(deployment, cells);
  }

  /** 400 served requests and labelled pairs (under `version`) for each of v1 and v2, 3 ms each; the canary v2 right 60 % of the time against 90 %. */
  async function seedComparison(deployment: string, version: number): Promise<void> {
    await seedCohort(deployment, version, { v1: { count: 400, sum: 360, sumSq: 360 }, v2: { count: 400, sum: 240, sumSq: 240 } });
    const served = (variant: string) => reportFields({ variant, role: 'served', latencyMs: 3 }).map((field) => [field, 400] as const);
    await controller.app.get(ReportStore).replace(deployment, new Map([...served('v1'), ...served('v2')]), []);
  }

  it('refuses to write over the newer spec, then judges that one', async () => {
    const { registry } = specs;
    const reconciler = controller.app.get(RolloutReconciler);
    const variants = [
      { name: 'v1', url: 'http://127.0.0.1:9', model: 'm1' },
      { name: 'v2', url: 'http://127.0.0.1:9', model: 'm2' },
    ];
    const judged = await specs.put('race', {
      variants,
      strategy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 50 },
      guardrails: { minSamples: 50 },
    } as never);
    expect(await reconciler.reconcile(judged)).toBe('judged');

    // After the baseline: 400 pairs each, the canary right 60 % of the time against 90 %.
    await seedComparison('race', judged.version);

    const human = await specs.put('race', {
      variants,
      strategy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 50 },
      guardrails: { minSamples: 50, onFail: 'pause' },
    } as never);
    expect(await reconciler.reconcile(judged)).toBe('conflict');
    expect(await registry.get('race')).toEqual(human);

    // The human's spec is a new comparison (onFail changed): it starts from a new baseline.
    expect(await reconciler.reconcile(human)).toBe('judged');
    expect((await registry.get('race'))!.version).toBe(human.version);
  });

  it('advances a plan and vetoes an arm in its rollout status, with no new version; a re-applied spec keeps them', async () => {
    const { registry } = specs;
    const reconciler = controller.app.get(RolloutReconciler);
    const variants = [
      { name: 'v1', url: 'http://127.0.0.1:9', model: 'm1' },
      { name: 'v2', url: 'http://127.0.0.1:9', model: 'm2' },
    ];
    const input = {
      variants,
      strategy: { type: 'plan', primary: 'v1', candidate: 'v2', steps: [{ pause: { seconds: 1 } }, { pause: {} }, { promote: true }] },
    };
    const spec = await specs.put('stepping', input as never);
    expect(await reconciler.reconcile(spec)).toBe('judged');
    // The timed pause is over after a second; advancing into the open pause pauses the plan.
    await waitFor(async () => (await reconciler.reconcile((await registry.get('stepping'))!)) === 'decided', { what: 'the timed pause to end' });
    expect(await registry.get('stepping')).toMatchObject({ version: 1, status: { step: 1, paused: true } });
    const stored = await controller.app.get(RolloutStateStore).read('stepping');
    expect(stored.state).toMatchObject({ lastDecision: { action: 'advance', fromVersion: 1, toVersion: 1 } });

    // The operator applies the same spec again: nothing changes, the step stays.
    expect(await specs.put('stepping', input as never)).toMatchObject({ version: 1, status: { step: 1, paused: true } });
    // An edit that keeps the strategy is a new version at the same step.
    const edited = { ...input, variants: [variants[0], { ...variants[1], timeoutMs: 2000 }] };
    expect(await specs.put('stepping', edited as never)).toMatchObject({ version: 2, status: { step: 1, paused: true } });

    const bandit = await specs.put('vetoing', {
      variants: [...variants, { name: 'v3', url: 'http://127.0.0.1:9', model: 'm3' }],
      strategy: { type: 'bandit', algorithm: 'thompson', minShare: 0.05 },
      guardrails: { minSamples: 100 },
    } as never);
    expect(await reconciler.reconcile(bandit)).toBe('judged');
    // v3 fails 300 of its 800 requests: vetoed against the best arm v1.
    await seedCohort('vetoing', bandit.version, {
      v1: { count: 2000, sum: 1800, sumSq: 1800 },
      v2: { count: 500, sum: 400, sumSq: 400 },
      v3: { count: 500, sum: 350, sumSq: 350 },
    });
    const counters = new Map<string, number>();
    const count = (times: number, variant: string, error?: string) => {
      for (const field of reportFields({ variant, role: 'served', latencyMs: 3, error })) counters.set(field, (counters.get(field) ?? 0) + times);
    };
    count(2000, 'v1');
    count(500, 'v2');
    count(500, 'v3');
    count(300, 'v3', 'timeout: slow');
    await controller.app.get(ReportStore).replace('vetoing', counters, []);
    expect(await reconciler.reconcile(bandit)).toBe('decided');
    expect(await registry.get('vetoing')).toMatchObject({ version: 1, status: { vetoed: ['v3'] }, strategy: { type: 'bandit' } });
  });

  it('writes when nobody got in between, decision and spec in one step', async () => {
    const { registry } = specs;
    const reconciler = controller.app.get(RolloutReconciler);
    const variants = [
      { name: 'v1', url: 'http://127.0.0.1:9', model: 'm1' },
      { name: 'v2', url: 'http://127.0.0.1:9', model: 'm2' },
    ];
    const spec = await specs.put('calm', {
      variants,
      strategy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 50 },
      guardrails: { minSamples: 50 },
    } as never);
    expect(await reconciler.reconcile(spec)).toBe('judged');
    await seedComparison('calm', spec.version);

    expect(await reconciler.reconcile(spec)).toBe('decided');
    const written = await registry.get('calm');
    expect(written).toMatchObject({ version: spec.version + 1, strategy: { type: 'single', variant: 'v1' } });
    expect(written!.guardrails).toBeUndefined();
    const stored = await controller.app.get(RolloutStateStore).read('calm');
    expect(stored.outbox).toBeUndefined();
    expect(stored.state).toMatchObject({ status: 'failed', lastDecision: { action: 'rollback', fromVersion: spec.version, toVersion: spec.version + 1 } });
  });
});
