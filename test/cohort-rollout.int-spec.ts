import { JoinedEvent, topicNames } from '@switchyard/contracts';
import { randomFeatures, seededRng, toInferInputs } from '@switchyard/demo-models';
import { ArmStatsStore } from '@switchyard/store';
import { cohortArm, type PlacedReward, RewardLedger } from '@switchyard/strategies';
import { banditUpdaterService } from '../apps/bandit-updater/src/bandit-updater.service-definition';
import { feedbackJoinerService } from '../apps/feedback-joiner/src/feedback-joiner.service-definition';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { routerService } from '../apps/router/src/router.service-definition';
import { joinedEvent, sendEvents } from './support/events';
import { collect, groupCaughtUp, isolation, readThrough, testKafka } from './support/kafka';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

const BUCKET_SECONDS = 60;

describe('bandit-updater: rewards by the step that served them (real Kafka and Redis)', () => {
  const ids = isolation('cohort-updater');
  const group = `updater-${ids.groupSuffix}`;
  const { updater, kafka, topics, producer } = useStack({
    ids,
    services: { updater: [banditUpdaterService, { UPDATE_GROUP: group, COHORT_BUCKET_SECONDS: String(BUCKET_SECONDS) }] },
    producer: true,
  });

  it('counts a late label under the version and step its prediction was served in, once, beside the totals', async () => {
    const servedAt = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();
    const event = (i: number, variant: string, reward: number, specVersion: number, step: number | undefined, minutesAgo: number): JoinedEvent => ({
      ...joinedEvent({ requestId: `c-${i}`, deployment: 'cohorts', variant, reward, specVersion, strategy: 'plan', at: servedAt(minutesAgo) }),
      ...(step !== undefined && { step }),
    });
    const events = [
      event(1, 'v1', 1, 3, undefined, 30),
      event(2, 'v2', 1, 3, 1, 5),
      event(3, 'v1', 1, 3, 1, 4),
      // Served in the first step half an hour ago, labelled now, while step 2 serves.
      event(4, 'v1', 0, 3, undefined, 30),
      event(5, 'v1', 0, 3, undefined, 29),
    ];
    await sendEvents(producer, topics.joined, events);
    await waitFor(() => groupCaughtUp(kafka, group, [topics.joined]), { what: 'the updater to commit the batch' });

    // What the rules say, recounted from the topic as it was written (each event once, in order).
    const readBack = await collect(kafka, topics.joined);
    await waitFor(() => readBack.messages.length === events.length, { what: 'the topic read back' });
    await readBack.stop();
    const ledger = new RewardLedger();
    for (const message of readBack.messages) {
      const joined = message.value as JoinedEvent;
      const reward: PlacedReward = { ...joined, partition: message.partition, offset: message.offset, cohort: cohortArm(joined, BUCKET_SECONDS) };
      ledger.apply(message.partition, [reward], true);
    }
    const store = updater.app.get(ArmStatsStore);
    const cells = await store.readCohorts('cohorts');
    expect(Object.fromEntries(cells.map(({ stats, ...cell }) => [`${cell.arm}:@${cell.key}:${cell.servedFrom}-${cell.servedBefore}`, stats]))).toEqual(
      ledger.cohorts,
    );
    const byKey = (key: string, arm: string) => cells.filter((cell) => cell.key === key && cell.arm === arm).reduce((sum, cell) => sum + cell.stats.count, 0);
    expect({ first: byKey('3', 'v1'), second: byKey('3.1', 'v1') + byKey('3.1', 'v2') }).toEqual({ first: 3, second: 2 });
    expect(cells.every((cell) => cell.servedBefore - cell.servedFrom === BUCKET_SECONDS)).toBe(true);
    expect(await store.read('cohorts')).toEqual({ v1: { count: 4, sum: 2, sumSq: 2 }, v2: { count: 1, sum: 1, sumSq: 1 } });
  });
});

/**
 * The case over the real stack: router → model server → Kafka → joiner → updater
 * → Redis → controller. Labels of predictions served in step 1 are held back until step 2
 * has begun, and are all bad (the primary's late negatives): step 2 is judged on the pairs
 * it served only.
 */
describe('rollout controller: a step is judged on its own cohort, however late the labels of the step before', () => {
  const ids = isolation('cohort-rollout');
  const topics = topicNames(ids.topicPrefix);
  const { modelServer, router, updater, events } = useStack({
    ids,
    services: {
      modelServer: modelServerService,
      router: [routerService, { KAFKA_INGRESS: 'false', REFRESH_INTERVAL_MS: '200' }],
      joiner: [feedbackJoinerService, { JOIN_GROUP: `joiner-${ids.groupSuffix}` }],
      updater: [banditUpdaterService, { UPDATE_GROUP: `updater-${ids.groupSuffix}`, COHORT_BUCKET_SECONDS: '1' }],
    },
    processes: { controller: ['rollout-controller', { ROLLOUT_INTERVAL_MS: '300' }] },
    collect: { events: 'deploymentEvents' },
  });
  const NAME = 'late-labels';
  const get = async () => (await http('GET', `${router.url}/v1/deployments/${NAME}`)).body;

  /** A request's answer: its id and the value the `match` reward compares a label with. */
  async function predict(requestId: string, seed: number): Promise<{ requestId: string; answer: unknown }> {
    const answer = await http('POST', `${router.url}/v1/deployments/${NAME}/predict`, { requestId, inputs: toInferInputs(randomFeatures(seededRng(seed))) });
    if (answer.status !== 200) throw new Error(`predict ${requestId}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return { requestId, answer: answer.body.outputs[0].data[0] };
  }

  async function label(requestId: string, value: unknown): Promise<void> {
    const feedback = await http('POST', `${router.url}/v1/feedback`, { requestId, label: value });
    if (feedback.status !== 202) throw new Error(`feedback ${requestId}: ${feedback.status}`);
  }

  /** Requests, each labelled with its own answer at once (reward 1), by 4 clients, until `stop`. */
  async function rightTraffic(prefix: string, stop: () => boolean): Promise<number> {
    let sent = 0;
    await Promise.all(
      Array.from({ length: 4 }, async (_, client) => {
        for (let i = 0; !stop(); i++) {
          const { requestId, answer } = await predict(`${prefix}-${client}-${i}`, client * 100_000 + i);
          await label(requestId, answer);
          sent++;
        }
      }),
    );
    return sent;
  }

  it('advances step 2 on its own pairs only, the late bad labels of step 1 counted in step 1', async () => {
    const variant = (name: string) => ({ name, url: modelServer.url, model: 'churn-v1', timeoutMs: 10000 });
    const put = await http('PUT', `${router.url}/v1/deployments/${NAME}`, {
      variants: [variant('v1'), variant('v2')],
      strategy: { type: 'plan', primary: 'v1', candidate: 'v2', steps: [{ canary: 50 }, { canary: 50 }, { promote: true }] },
      // Both arms the same model, every label its own answer: each step passes once it has its pairs.
      guardrails: { minSamples: 100, maxSamples: 20000, margin: 0.3, labelHorizon: '2s' },
    });
    expect(put.status).toBe(200);
    const version = put.body.version;

    // Step 1: 200 answers whose labels are held back, then labelled traffic until the gate passes.
    const held = [];
    for (let i = 0; i < 200; i++) held.push(await predict(`held-${i}`, 900_000 + i));
    let stepTwo: any;
    const watchStepTwo = waitFor(
      async () => {
        const body = await get();
        // Step 2's comparison has started (its first pass, its own `since`): what came before it is not its own.
        stepTwo = body.plan.step === 2 && body.plan.since && body;
        return stepTwo;
      },
      { timeoutMs: 180000, intervalMs: 250, what: 'step 2 to be judged' },
    );
    await Promise.all([watchStepTwo, rightTraffic('one', () => !!stepTwo)]);
    expect(Object.keys(stepTwo.plan.labels)).toEqual(expect.arrayContaining(['judged', 'waiting']));

    // The held-back labels come in now, all wrong (reward 0): late negatives of step 1.
    const stats = updater.app.get(ArmStatsStore);
    /** Pairs rewarded 0 in the totals: only the late ones are. */
    const wrong = async () => Object.values(await stats.read(NAME)).reduce((sum, arm) => sum + arm.count - arm.sum, 0);
    for (const { requestId } of held) await label(requestId, 'late and wrong');
    await waitFor(async () => (await wrong()) === held.length, { timeoutMs: 60000, what: 'the late labels to be counted' });
    // Counted in step 1's cells (its key: the version alone), which step 2 cannot judge: the controller deletes them.
    await waitFor(async () => !(await stats.readCohorts(NAME)).some((cell) => cell.key === String(version)), {
      timeoutMs: 60000,
      what: "step 1's cohort cells to be pruned",
    });

    // Step 2: labelled traffic until the plan is promoted.
    let done = false;
    const watchDone = waitFor(
      async () => {
        done = (await get()).strategy.type === 'single';
        return done;
      },
      { timeoutMs: 180000, intervalMs: 250, what: 'the plan to be promoted' },
    );
    await Promise.all([watchDone, rightTraffic('two', () => done)]);
    await readThrough(testKafka(), topics.deploymentEvents, events);
    const decisions = events.messages.filter((m) => m.value?.type === 'decision' && m.value.deployment === NAME).map((m) => m.value);
    const gate = decisions.find((d) => d.action === 'advance' && d.reason.startsWith('step 2 of 3'));
    // Only step 2's own pairs, every one right: not one of step 1's 200 late wrong labels.
    expect(gate.evidence.mean).toEqual({ v1: 1, v2: 1 });
    expect(gate.evidence.n.v1).toBeGreaterThanOrEqual(100);
    expect(decisions.map((d) => d.action)).toEqual(['advance', 'advance', 'promote']);
  });
});
