import { randomUUID } from 'node:crypto';
import { Kafka } from 'kafkajs';
import { JoinedEvent, PredictionEvent, StateCheckpoint, topicNames, validateDeploymentSpec } from '@switchyard/contracts';
import { KafkaClient, readCheckpoint } from '@switchyard/messaging';
import { JoinStateStore, ReportStore } from '@switchyard/store';
import {
  addReportCounts,
  ArmStats,
  cohortArm,
  pairField,
  type PlacedReward,
  recountRewards,
  reportCounts,
  RewardLedger,
  seededRng,
} from '@switchyard/strategies';
import { banditUpdaterService } from '../apps/bandit-updater/src/bandit-updater.service-definition';
import { feedbackJoinerService } from '../apps/feedback-joiner/src/feedback-joiner.service-definition';
import { collect, groupCaughtUp, isolation, readThrough, Received } from './support/kafka';
import { http, RunningService } from './support/services';
import { useStack } from './support/stack';
import { statisticsEqual } from './support/redis';
import { waitFor } from './support/wait';
import { feedbackEvent, joinedEvent, predictionEvent, sendEvents } from './support/events';

/**
 * Rebuilds after Redis is lost start from the latest checkpoint (compacted checkpoints
 * topic) and read only the tail after it. To tell that apart from a read of the whole
 * history, the history before the checkpoint is deleted from the topic (as retention
 * would): what the rebuild ends with can then only come from the checkpoint plus the tail.
 */

/** Removes every record of `topic` before its current end, as retention would. */
async function deleteHistory(kafka: Kafka, topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    await admin.deleteTopicRecords({ topic, partitions: ends.map(({ partition, high }) => ({ partition, offset: high })) });
  } finally {
    await admin.disconnect();
  }
}

/** A counter of a service's /metrics (some of its labels, as they are written), 0 when absent. */
async function metric(service: RunningService, name: string, labels: string): Promise<number> {
  const text = (await http('GET', `${service.url}/metrics`)).body as string;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((label) => l.includes(label)));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** Waits for a checkpoint of `store` written after this call: it covers everything committed now. */
async function nextCheckpoint(service: RunningService, store: string): Promise<void> {
  const written = await metric(service, 'switchyard_checkpoints_written_total', `store="${store}"`);
  await waitFor(async () => (await metric(service, 'switchyard_checkpoints_written_total', `store="${store}"`)) > written + 1, {
    what: `a ${store} checkpoint taken after this point`,
  });
}

describe('bandit-updater: statistics restored from their checkpoint after Redis is lost', () => {
  const ids = isolation('stats-checkpoint');
  const group = `updater-${ids.groupSuffix}`;
  const DEPLOYMENTS = ['north', 'south'];
  const { kafka, topics, privateRedis, redis, producer, updater, specs } = useStack({
    ids,
    privateRedis: true,
    services: { updater: [banditUpdaterService, { UPDATE_GROUP: group, CHECKPOINT_INTERVAL_MS: '1000' }] },
    specLog: true,
    redis: true,
    producer: true,
  });
  let sequence = 0;
  /** Per deployment, the request of its last served reward: the shadow rewards that follow answered it too. */
  const lastServed = new Map<string, string>();

  // Shadow deployments: their rewards pair by request (paired cells beside the cohort cells).
  const SHADOW = { type: 'shadow', primary: 'v1', shadows: ['v2', 'v3'] };
  beforeAll(async () => {
    const spec = validateDeploymentSpec({
      variants: ['v1', 'v2', 'v3'].map((name) => ({ name, url: 'http://127.0.0.1:9/', model: 'm' })),
      strategy: SHADOW,
      reward: { type: 'explicit' },
    });
    if (!spec.ok) throw new Error(spec.problems.join('; '));
    for (const deployment of DEPLOYMENTS) await specs.put(deployment, spec.value);
  });

  function traffic(count: number): JoinedEvent[] {
    const rng = seededRng(sequence + 11);
    return Array.from({ length: count }, () => {
      const n = ++sequence;
      const deployment = DEPLOYMENTS[n % DEPLOYMENTS.length];
      const role = rng() < 0.2 ? 'shadow' : 'served';
      const requestId = (role === 'shadow' && lastServed.get(deployment)) || `r-${n}`;
      if (role === 'served') lastServed.set(deployment, requestId);
      return joinedEvent({ requestId, deployment, variant: `v${1 + Math.floor(rng() * 3)}`, role, reward: Math.round(rng() * 1e4) / 1e4 });
    });
  }

  /**
   * The cohort and paired cells a recount of every event gives, as the updater keys them
   * (`cohortArm` at its default slot width; every reward of a shadow deployment paired by
   * request, held as long as the test runs).
   */
  function recountCells(events: PlacedReward[]): Map<string, Record<string, ArmStats>> {
    const ledgers = new Map(DEPLOYMENTS.map((deployment) => [deployment, new RewardLedger()]));
    const inOrder = [...events].sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset));
    for (const event of inOrder) ledgers.get(event.deployment)!.apply(event.partition, [event], true, { now: 0, holdMs: 2 ** 40 });
    return new Map([...ledgers].map(([deployment, ledger]) => [deployment, { ...ledger.cohorts, ...ledger.paired }]));
  }

  /** Every message of the joined topic from its log start now, keyed by its place. */
  async function readTopic(into: Map<string, Received>): Promise<void> {
    const reader = await collect(kafka, topics.joined);
    try {
      await readThrough(kafka, topics.joined, reader);
      for (const m of reader.messages) if (m.value) into.set(`${m.partition}:${m.offset}`, m);
    } finally {
      await reader.stop();
    }
  }

  const equals = (recount: Map<string, Record<string, ArmStats>>) => statisticsEqual(redis, ids.redisPrefix, DEPLOYMENTS, recount);

  it('ends equal to a recount of every joined event, though the history before the checkpoint is gone from the topic', async () => {
    const history = new Map<string, Received>();
    await sendEvents(producer, topics.joined, traffic(1500));
    await waitFor(() => groupCaughtUp(kafka, group, [topics.joined]), { what: 'the updater to commit the history' });
    await nextCheckpoint(updater, 'statistics');
    await readTopic(history);
    expect(history.size).toBe(1500);
    await deleteHistory(kafka, topics.joined);
    // After the checkpoint, before the loss: only in the topic's tail.
    await sendEvents(producer, topics.joined, traffic(300));
    await waitFor(() => groupCaughtUp(kafka, group, [topics.joined]), { what: 'the updater to commit the tail' });

    await privateRedis.restartEmpty();
    expect(await redis.dbsize()).toBe(0);
    // The spec log writes the specs back (as a router's does): the rebuild pairs the tail's rewards by them.
    await waitFor(async () => (await Promise.all(DEPLOYMENTS.map((d) => redis.exists(`${ids.redisPrefix}{${d}}:spec`)))).every(Boolean), {
      what: 'the specs back in Redis',
    });
    await sendEvents(producer, topics.joined, traffic(200));
    await readTopic(history);
    const placed = [...history.values()].map((m) => ({ ...(m.value as JoinedEvent), partition: m.partition, offset: m.offset }));
    const recount = recountRewards(placed);
    expect([...recount.values()].flatMap((arms) => Object.values(arms)).reduce((sum, arm) => sum + arm.count, 0)).toBe(sequence);
    await waitFor(() => equals(recount), { what: 'the statistics to equal a recount of every event', timeoutMs: 90000, intervalMs: 250 });
    // The cohort cells and the paired cells (kept by slot of serve time) too: the checkpoint carried them, and the held halves.
    const cells = recountCells(placed.map((event) => ({ ...event, cohort: cohortArm(event, 600) })));
    expect([...cells.values()].some((stats) => Object.keys(stats).some((base) => base.includes(':paired:@')))).toBe(true);
    await waitFor(() => statisticsEqual(redis, ids.redisPrefix, DEPLOYMENTS, cells, 'cohorts'), {
      what: 'the cohort and paired cells to equal a recount of every event',
      timeoutMs: 30000,
    });
    expect(await metric(updater, 'switchyard_checkpoint_restores_total', 'store="statistics",outcome="restored"')).toBeGreaterThan(0);
    // And nothing more comes: every partition is tracked, from where the checkpoint covered it.
    await waitFor(() => groupCaughtUp(kafka, group, [topics.joined]), { what: 'the updater to catch up' });
    expect(await equals(recount)).toBe(true);
  });

  // This updater writes `statistics` checkpoints only: the `report` key is the test's.
  it('reads the latest valid checkpoint of a store, skips an invalid one and forgets it at a tombstone', async () => {
    const client = updater.app.get(KafkaClient);
    const read = () => readCheckpoint(client, topics.checkpoints, 'report', { groupPrefix: `read-${ids.groupSuffix}`, logger: { warn: () => undefined } });
    const checkpoint = (takenAt: string): StateCheckpoint => ({ store: 'report', takenAt, covers: [], deployments: {} });
    await producer.send({
      topic: topics.checkpoints,
      messages: [
        { key: 'report', value: JSON.stringify(checkpoint('2026-12-07T08:00:00.000Z')) },
        { key: 'report', value: JSON.stringify(checkpoint('2026-12-07T08:01:00.000Z')) },
        {
          key: 'report',
          value: JSON.stringify({ ...checkpoint('2026-12-07T08:02:00.000Z'), deployments: { churn: { report: { ttlMs: 0, fields: { a: 1 } } } } }),
        },
      ],
    });
    expect((await read())?.takenAt).toBe('2026-12-07T08:01:00.000Z');
    await producer.send({ topic: topics.checkpoints, messages: [{ key: 'report', value: null }] });
    expect(await read()).toBeUndefined();
  });
});

describe('feedback-joiner: report counters restored from their checkpoint after Redis is lost', () => {
  const ids = isolation('report-checkpoint');
  const topics = topicNames(ids.topicPrefix);
  const group = `join-checkpoint-${ids.groupSuffix}`;
  const { kafka, producer, privateRedis, joiner, specs, joined } = useStack({
    ids,
    privateRedis: true,
    services: {
      joiner: [feedbackJoinerService, { JOIN_GROUP: group, JOIN_WINDOW_SECONDS: '300', JOIN_SWEEP_INTERVAL_MS: '200', CHECKPOINT_INTERVAL_MS: '1000' }],
    },
    specLog: true,
    producer: true,
    collect: { joined: 'joined' },
  });
  const sent = new Map<string, PredictionEvent>();
  const prediction = (requestId: string) => predictionEvent({ requestId, deployment: 'alpha', strategy: 'single', probability: 1, outputs: 1, latencyMs: 3 });
  async function predict(values: PredictionEvent[]): Promise<void> {
    for (const p of values) if (!sent.has(`${p.requestId}\n${pairField(p)}`)) sent.set(`${p.requestId}\n${pairField(p)}`, p);
    await sendEvents(producer, topics.predictions, values);
  }
  const feedback = (requestId: string, reward: number) => feedbackEvent({ requestId, reward });
  async function settled(): Promise<boolean> {
    if (!(await groupCaughtUp(kafka, group, [topics.predictions, topics.shadowPredictions, topics.feedback]))) return false;
    await readThrough(kafka, topics.joined, joined);
    return true;
  }
  const joinedFor = (requestId: string) => joined.messages.filter((m) => m.key === requestId);
  function recount(): Record<string, string> {
    const counts = new Map<string, number>();
    const units = new Map<string, number>();
    for (const p of sent.values()) addReportCounts(counts, reportCounts(p), units);
    return Object.fromEntries([...counts].map(([field, n]) => [field, String(n)]));
  }

  beforeAll(async () => {
    const spec = validateDeploymentSpec({
      variants: [{ name: 'v1', url: 'http://127.0.0.1:9/', model: 'm' }],
      strategy: { type: 'single', variant: 'v1' },
      reward: { type: 'explicit' },
    });
    if (!spec.ok) throw new Error(spec.problems.join('; '));
    await specs.put('alpha', spec.value);
  });

  it('recounts from the checkpoint plus the tail, and joins exactly once across the loss', async () => {
    const old = Array.from({ length: 30 }, (_, i) => `old-${randomUUID()}-${i}`);
    await predict([...old.map(prediction), ...old.slice(0, 5).map(prediction)]);
    await sendEvents(
      producer,
      topics.feedback,
      old.map((id) => feedback(id, 1)),
    );
    await waitFor(async () => (await settled()) && old.every((id) => joinedFor(id).length === 1), { what: 'the old pairs joined' });
    const reports = joiner.app.get(ReportStore);
    expect(await reports.read('alpha')).toEqual(recount());
    await nextCheckpoint(joiner, 'report');
    await deleteHistory(kafka, topics.predictions);

    // After the checkpoint: pending predictions, in the tail only.
    const pending = Array.from({ length: 10 }, (_, i) => `pending-${randomUUID()}-${i}`);
    await predict(pending.map(prediction));
    await waitFor(settled, { what: 'the pending predictions taken in' });
    expect(await reports.read('alpha')).toEqual(recount());

    await privateRedis.restartEmpty();
    const state = joiner.app.get(JoinStateStore);
    await waitFor(() => state.ready().catch(() => false), { what: 'the join state rebuilt', timeoutMs: 90000 });
    // The old predictions are gone from the topic: their counts can only come from the checkpoint.
    expect(await reports.read('alpha')).toEqual(recount());
    expect(await metric(joiner, 'switchyard_checkpoint_restores_total', 'store="report",outcome="restored"')).toBeGreaterThan(0);

    await sendEvents(
      producer,
      topics.feedback,
      [...old, ...pending].map((id) => feedback(id, 0)),
    );
    await predict(pending.slice(0, 3).map(prediction));
    await waitFor(async () => (await settled()) && pending.every((id) => joinedFor(id).length >= 1), { what: 'the pending pairs joined' });
    for (const id of old) expect(joinedFor(id).map((m) => (m.value as JoinedEvent).reward)).toEqual([1]);
    for (const id of pending) expect(joinedFor(id).map((m) => (m.value as JoinedEvent).reward)).toEqual([0]);
    expect(await reports.read('alpha')).toEqual(recount());
  });
});
