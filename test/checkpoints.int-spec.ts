import { randomUUID } from 'node:crypto';
import { Kafka, Producer } from 'kafkajs';
import { JoinedEvent, manifestKey, PredictionEvent, StateCheckpoint, topicNames, validateDeploymentSpec } from '@switchyard/contracts';
import { CheckpointWriter, KafkaClient, readCheckpoint } from '@switchyard/messaging';
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
 * Statistics larger than the broker's record limit are checkpointed in several chunks and
 * restored exactly.
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

/**
 * An updater fed `history` joined events over `deployments` × `variants` (arms), then a
 * checkpoint, the history deleted from the topic, a tail, Redis lost: the statistics must
 * end equal to a recount of every event. `paired`: the deployments are shadow specs, whose
 * rewards pair by request, and the cohort and paired cells (with the held halves) must
 * equal a recount too. `more` adds tests on the same stack.
 */
function describeStatisticsRestore(
  title: string,
  shape: { deployments: string[]; variants: string[]; history: number; chunks: 'one' | 'several'; paired?: boolean },
  more?: (stack: { ids: ReturnType<typeof isolation>; topics: ReturnType<typeof topicNames>; updater: RunningService; producer: Producer }) => void,
): void {
  describe(title, () => {
    const ids = isolation('stats-checkpoint');
    const group = `updater-${ids.groupSuffix}`;
    const { deployments, variants } = shape;
    const stack = useStack({
      ids,
      privateRedis: true,
      services: { updater: [banditUpdaterService, { UPDATE_GROUP: group, CHECKPOINT_INTERVAL_MS: '1000' }] },
      specLog: true,
      redis: true,
      producer: true,
    });
    const { kafka, topics, privateRedis, redis, producer } = stack;
    let sequence = 0;
    /** Per deployment, the request of its last served reward: the shadow rewards that follow answered it too. */
    const lastServed = new Map<string, string>();

    if (shape.paired)
      beforeAll(async () => {
        const spec = validateDeploymentSpec({
          variants: variants.map((name) => ({ name, url: 'http://127.0.0.1:9/', model: 'm' })),
          strategy: { type: 'shadow', primary: variants[0], shadows: variants.slice(1) },
          reward: { type: 'explicit' },
        });
        if (!spec.ok) throw new Error(spec.problems.join('; '));
        for (const deployment of deployments) await stack.specs.put(deployment, spec.value);
      });

    function traffic(count: number): JoinedEvent[] {
      const rng = seededRng(sequence + 11);
      return Array.from({ length: count }, () => {
        const n = ++sequence;
        const deployment = deployments[n % deployments.length];
        const role = rng() < 0.2 ? 'shadow' : 'served';
        const requestId = (shape.paired && role === 'shadow' && lastServed.get(deployment)) || `r-${n}`;
        if (role === 'served') lastServed.set(deployment, requestId);
        return joinedEvent({ requestId, deployment, variant: variants[Math.floor(rng() * variants.length)], role, reward: Math.round(rng() * 1e4) / 1e4 });
      });
    }

    /**
     * The cohort and paired cells a recount of every event gives, as the updater keys them
     * (`cohortArm` at its default slot width; every reward of a shadow deployment paired by
     * request, held as long as the test runs).
     */
    function recountCells(events: PlacedReward[]): Map<string, Record<string, ArmStats>> {
      const ledgers = new Map(deployments.map((deployment) => [deployment, new RewardLedger()]));
      const inOrder = [...events].sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset));
      for (const event of inOrder) ledgers.get(event.deployment)!.apply(event.partition, [event], true, { now: 0, holdMs: 2 ** 40 });
      return new Map([...ledgers].map(([deployment, ledger]) => [deployment, { ...ledger.cohorts, ...ledger.paired }]));
    }

    /** Sends in slices, each produce request well under the broker's limit. */
    async function send(events: JoinedEvent[]): Promise<void> {
      for (let i = 0; i < events.length; i += 500) await sendEvents(producer, topics.joined, events.slice(i, i + 500));
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

    const equals = (recount: Map<string, Record<string, ArmStats>>) => statisticsEqual(redis, ids.redisPrefix, deployments, recount);

    it(`ends equal to a recount of every joined event, though the history before the checkpoint (${shape.chunks} chunk${shape.chunks === 'one' ? '' : 's'}) is gone from the topic`, async () => {
      const history = new Map<string, Received>();
      await send(traffic(shape.history));
      await waitFor(() => groupCaughtUp(kafka, group, [topics.joined]), { what: 'the updater to commit the history', timeoutMs: 180000 });
      await nextCheckpoint(stack.updater, 'statistics');
      const found = await readCheckpoint(stack.updater.app.get(KafkaClient), topics.checkpoints, 'statistics', {
        groupPrefix: `read-${ids.groupSuffix}`,
        logger: { warn: () => undefined },
      });
      const chunks = found.outcome === 'restored' ? found.set.chunks : 0;
      if (shape.chunks === 'several') expect(chunks).toBeGreaterThan(1);
      else expect(chunks).toBe(1);
      await readTopic(history);
      expect(history.size).toBe(shape.history);
      await deleteHistory(kafka, topics.joined);
      // After the checkpoint, before the loss: only in the topic's tail.
      await send(traffic(300));
      await waitFor(() => groupCaughtUp(kafka, group, [topics.joined]), { what: 'the updater to commit the tail' });

      await privateRedis.restartEmpty();
      expect(await redis.dbsize()).toBe(0);
      if (shape.paired)
        // The spec log writes the specs back (as a router's does): the rebuild pairs the tail's rewards by them.
        await waitFor(async () => (await Promise.all(deployments.map((d) => redis.exists(`${ids.redisPrefix}{${d}}:spec`)))).every(Boolean), {
          what: 'the specs back in Redis',
        });
      await send(traffic(200));
      await readTopic(history);
      const placed = [...history.values()].map((m) => ({ ...(m.value as JoinedEvent), partition: m.partition, offset: m.offset }));
      const recount = recountRewards(placed);
      expect([...recount.values()].flatMap((arms) => Object.values(arms)).reduce((sum, arm) => sum + arm.count, 0)).toBe(sequence);
      await waitFor(() => equals(recount), { what: 'the statistics to equal a recount of every event', timeoutMs: 180000, intervalMs: 500 });
      if (shape.paired) {
        // The cohort and paired cells (kept by slot of serve time) too: the checkpoint carried them, and the held halves.
        const cells = recountCells(placed.map((event) => ({ ...event, cohort: cohortArm(event, 600) })));
        expect([...cells.values()].some((stats) => Object.keys(stats).some((base) => base.includes(':paired:@')))).toBe(true);
        await waitFor(() => statisticsEqual(redis, ids.redisPrefix, deployments, cells, 'cohorts'), {
          what: 'the cohort and paired cells to equal a recount of every event',
          timeoutMs: 30000,
        });
      }
      expect(await metric(stack.updater, 'switchyard_checkpoint_restores_total', 'store="statistics",outcome="restored"')).toBeGreaterThan(0);
      // And nothing more comes: every partition is tracked, from where the checkpoint covered it.
      await waitFor(() => groupCaughtUp(kafka, group, [topics.joined]), { what: 'the updater to catch up' });
      expect(await equals(recount)).toBe(true);
    });

    more?.({ ids, topics, updater: stack.updater, producer });
  });
}

describeStatisticsRestore(
  'bandit-updater: statistics restored from their checkpoint after Redis is lost',
  { deployments: ['north', 'south'], variants: ['v1', 'v2', 'v3'], history: 1500, chunks: 'one', paired: true },
  ({ ids, topics, updater, producer }) => {
    // This updater writes `statistics` checkpoints only: the `report` key is the test's.
    it('reads the newest complete checkpoint, the one before it when a chunk is missing, and forgets them at a tombstone', async () => {
      const client = updater.app.get(KafkaClient);
      const logger = { warn: () => undefined };
      const read = () => readCheckpoint(client, topics.checkpoints, 'report', { groupPrefix: `read-${ids.groupSuffix}`, logger });
      const writer = new CheckpointWriter(client, 'report', { groupPrefix: `write-${ids.groupSuffix}`, logger, chunkBytes: 1024 });
      const checkpoint = (takenAt: string, units: number): StateCheckpoint => ({
        store: 'report',
        takenAt,
        covers: [{ topic: topics.predictions, partition: 0, offset: '7' }],
        deployments: { churn: { report: { ttlMs: 0, fields: Object.fromEntries(Array.from({ length: units }, (_, i) => [`unit-${i}`, String(i)])) } } },
      });
      const first = checkpoint('2026-12-07T08:00:00.000Z', 100);
      const second = checkpoint('2026-12-07T08:01:00.000Z', 150);
      await writer.write(first);
      const { id, chunks } = await writer.write(second);
      expect(chunks).toBeGreaterThan(1);
      expect(await read()).toEqual({ outcome: 'restored', checkpoint: second, set: expect.objectContaining({ id }) });
      // A record that is not a valid chunk is skipped: the chunk before it under the key stands.
      await producer.send({ topic: topics.checkpoints, messages: [{ key: `report/${id}/0`, value: '{"store":"report"}' }] });
      expect(await read()).toMatchObject({ outcome: 'restored', checkpoint: second });
      await producer.send({ topic: topics.checkpoints, messages: [{ key: `report/${id}/0`, value: null }] });
      expect(await read()).toMatchObject({ outcome: 'previous', checkpoint: first, problem: expect.stringMatching(/chunk 0 .* missing/) });
      await producer.send({ topic: topics.checkpoints, messages: [{ key: manifestKey('report'), value: null }] });
      expect(await read()).toEqual({ outcome: 'none' });
    });
  },
);

describeStatisticsRestore('bandit-updater: statistics larger than a record restored from a checkpoint of several chunks', {
  // Arms of long names over many deployments: their hashes pass CHECKPOINT_CHUNK_BYTES a few times over.
  deployments: Array.from({ length: 40 }, (_, d) => `deployment-${d}`),
  variants: Array.from({ length: 100 }, (_, v) => `variant-${v}-${'w'.repeat(48)}`),
  history: 6000,
  chunks: 'several',
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
