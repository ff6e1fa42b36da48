import { randomUUID } from 'node:crypto';
import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { FeedbackEvent, feedbackProblem, JoinedEvent, PredictionEvent, StateCheckpoint } from '@switchyard/contracts';
import { checkpointMetrics, InboundMessage, KafkaClient, parseBatch, readCheckpoint, readTopicRange, skipRejected } from '@switchyard/messaging';
import { PeriodicTask } from '@switchyard/runtime';
import { JoinStateStore, PredictionRecord, ReportStore } from '@switchyard/store';
import { addReportCounts, pairField, RecentPairs, reportCounts, type UnitMemory } from '@switchyard/strategies';
import { FeedbackJoinerEnv } from '../feedback-joiner.env';
import { EXPIRY_GRACE_SECONDS, feedbackRecord, joinTiming, predictionRecord } from './join.records';

/** How long the rebuild lock lives unless renewed: a rebuilder that died frees it by then. */
const LOCK_MS = 30000;
/** Longest read of one topic while rebuilding (the prediction topics are read from their log start). */
const READ_TIMEOUT_MS = 30 * 60 * 1000;
/** The `reader` label of the records this rebuild skips (the joiner dead-lettered them when they came). */
const REBUILD = 'join-state-rebuild';

/**
 * Rebuilds the join state and the report counters from Kafka when Redis lost them (a
 * bucket without its marker, found by a refused batch or by the periodic check). One
 * joiner of the group rebuilds, under a lock in Redis; the others' batches are refused
 * until the markers are back. In order:
 *
 * 1. The markers are removed, so every joiner stops writing (after a partial loss, too).
 * 2. The report counters start from their latest checkpoint (ReportCheckpoints), and the
 *    prediction topics are read from the offsets it covers (and a window before it, to
 *    tell duplicates apart) — from their log start when there is none: every prediction's
 *    first copy (duplicates told apart within the window, as the join state does) that
 *    the checkpoint's positions do not hold is counted into its deployment's report, which
 *    replaces the stored one together with the positions read up to, so a later
 *    redelivery of what was recounted adds nothing. Those of the last window are stored
 *    again, unclaimed, each under its message's token, so its redelivery still counts as
 *    the message it was first stored from.
 * 3. Feedback of the last window is stored again, unclaimed.
 * 4. The joined topic from the window (plus the expiry grace) on restores a claim per
 *    pair joined, so no message emits it again. Read last, so that a transaction a joiner
 *    had open at the loss has committed or aborted by then: committed, its pairs are
 *    restored; aborted, its messages are redelivered and join then.
 * 5. The markers are set: the refused batches go through, and every pair whose completing
 *    message had not committed is joined by it, exactly once.
 */
@Injectable()
export class JoinStateRebuilder implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(JoinStateRebuilder.name);
  private readonly owner = randomUUID();
  private readonly periodic: PeriodicTask;
  private running?: Promise<void>;

  constructor(
    private readonly state: JoinStateStore,
    private readonly reports: ReportStore,
    private readonly kafka: KafkaClient,
    private readonly env: FeedbackJoinerEnv,
  ) {
    this.periodic = new PeriodicTask(() => this.run(), env.JOIN_SWEEP_INTERVAL_MS);
  }

  /** A first start on an empty Redis rebuilds before the consumers start, rather than refusing their first batches. */
  async onModuleInit(): Promise<void> {
    this.periodic.start();
    await this.run();
  }

  async onModuleDestroy(): Promise<void> {
    await this.periodic.stop();
    await this.running;
  }

  /** Rebuilds unless this process already is; returns at once. */
  start(): void {
    void this.run();
  }

  private run(): Promise<void> {
    this.running ??= this.rebuildIfLost()
      .catch((error: Error) => this.logger.error({ error: error.message }, 'could not rebuild the join state; will retry'))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async rebuildIfLost(): Promise<void> {
    if ((await this.state.ready()) || !(await this.state.lockRebuild(this.owner, LOCK_MS))) return;
    const renew = setInterval(() => void this.state.renewRebuildLock(this.owner, LOCK_MS).catch(() => undefined), LOCK_MS / 3);
    try {
      // Another joiner may have finished between the check and the lock.
      if (!(await this.state.ready())) await this.rebuild();
    } finally {
      clearInterval(renew);
      await this.state.releaseRebuildLock(this.owner).catch(() => undefined);
    }
  }

  private async rebuild(): Promise<void> {
    const started = Date.now();
    const windowMs = this.env.JOIN_WINDOW_SECONDS * 1000;
    const sinceMs = started - windowMs;
    const { topics } = this.kafka;
    this.logger.warn({ sinceMs }, 'join state lost; rebuilding it from Kafka');
    await this.state.setReady(false);
    // Redis lost the set of deployments with a report too: noted again as the reports are replaced.
    this.reports.deployments.forgetNoted();

    const found = await readCheckpoint(this.kafka, topics.checkpoints, 'report', {
      groupPrefix: `${this.env.JOIN_GROUP}-rebuild`,
      logger: this.logger,
    });
    checkpointMetrics.restored.inc({ store: 'report', outcome: found.outcome });
    const checkpoint = 'checkpoint' in found ? found.checkpoint : undefined;
    const counters = new Map<string, Map<string, number>>();
    const units = new Map<string, UnitMemory>();
    const counting = this.env.unitCounting;
    /** Deployment → `topic:partition` → the last offset its checkpointed report holds. */
    const held = new Map<string, Map<string, bigint>>();
    for (const [deployment, hashes] of Object.entries(checkpoint?.deployments ?? {})) {
      const snapshot = ReportStore.parseSnapshot(hashes.report);
      counters.set(deployment, snapshot.counters);
      held.set(deployment, snapshot.positions);
      units.set(deployment, ReportStore.parseUnits(hashes.units));
    }
    const positions: { topic: string; partition: number; offset: string }[] = [];
    let replayed = 0;
    for (const topic of [topics.predictions, topics.shadowPredictions]) {
      const recent = new Map<number, RecentPairs>();
      const from = checkpoint && (await this.checkpointStart(topic, checkpoint, sinceMs, windowMs));
      const { ranges } = await this.read(topic, { from }, async (messages) => {
        const { accepted, rejected } = parseBatch(PredictionEvent, messages, 'prediction event');
        skipRejected(rejected, REBUILD, this.logger);
        const replay: { record: PredictionRecord; atMs: number }[] = [];
        for (const { message, value } of accepted) {
          const atMs = Number(message.timestamp);
          const pairs = recent.get(message.partition) ?? recent.set(message.partition, new RecentPairs(windowMs)).get(message.partition)!;
          const before = held.get(value.deployment)?.get(`${topic}:${message.partition}`);
          if (pairs.first(`${value.requestId}\n${pairField(value)}`, atMs) && (before === undefined || BigInt(message.offset) > before)) {
            const counts = counters.get(value.deployment) ?? counters.set(value.deployment, new Map()).get(value.deployment)!;
            const memory = units.get(value.deployment) ?? units.set(value.deployment, new Map()).get(value.deployment)!;
            addReportCounts(counts, reportCounts(value, counting), memory, counting.maxPerKey);
          }
          if (atMs >= sinceMs) replay.push({ record: predictionRecord(message, value), atMs });
        }
        await this.state.recordPredictions(
          replay.map((r) => r.record),
          (_, i) => joinTiming(this.env.JOIN_WINDOW_SECONDS, replay[i].atMs, Date.now()),
          true,
        );
        replayed += replay.length;
      });
      for (const { partition, end } of ranges) if (end > 0) positions.push({ topic, partition, offset: String(end - 1) });
    }
    for (const [deployment, counts] of counters) await this.reports.replace(deployment, counts, positions, units.get(deployment));

    let feedback = 0;
    await this.read(topics.feedback, { sinceMs }, async (messages) => {
      const { accepted, rejected } = parseBatch(FeedbackEvent, messages, 'feedback', feedbackProblem);
      skipRejected(rejected, REBUILD, this.logger);
      const timings = accepted.map(({ message }) => joinTiming(this.env.JOIN_WINDOW_SECONDS, Number(message.timestamp), Date.now()));
      await this.state.recordFeedback(
        accepted.map(({ message, value }) => feedbackRecord(message, value)),
        (_, i) => timings[i],
        true,
      );
      feedback += accepted.length;
    });

    let claims = 0;
    await this.read(topics.joined, { sinceMs: sinceMs - EXPIRY_GRACE_SECONDS * 1000 }, async (messages) => {
      const { accepted, rejected } = parseBatch(JoinedEvent, messages, 'joined event');
      skipRejected(rejected, REBUILD, this.logger);
      const timings = accepted.map(({ message }) => joinTiming(this.env.JOIN_WINDOW_SECONDS, Number(message.timestamp), Date.now()));
      await this.state.restoreClaims(
        accepted.map(({ value }) => ({ requestId: value.requestId, pair: pairField(value) })),
        (_, i) => timings[i],
      );
      claims += accepted.length;
    });

    // Redis lost again meanwhile takes the lock with it: then this state is not whole.
    if (!(await this.state.renewRebuildLock(this.owner, LOCK_MS))) throw new Error('lost the rebuild lock (Redis restarted again?); starting over');
    await this.state.setReady(true);
    this.logger.warn(
      {
        deployments: counters.size,
        checkpoint: checkpoint?.takenAt,
        predictionsReplayed: replayed,
        feedbackReplayed: feedback,
        claimsRestored: claims,
        ms: Date.now() - started,
      },
      'join state rebuilt from Kafka',
    );
  }

  /**
   * Where a prediction topic is read from with a checkpoint, per partition: the offset it
   * covers (all before is in its reports), the window being replayed, and a window plus
   * the expiry grace before it was taken, so a copy after it is told from a first copy
   * before it. A partition it does not cover is read from its log start.
   */
  private async checkpointStart(topic: string, checkpoint: StateCheckpoint, sinceMs: number, windowMs: number): Promise<Map<number, number>> {
    const window = await this.kafka.topicOffsetsAt(topic, sinceMs);
    const memory = await this.kafka.topicOffsetsAt(topic, Date.parse(checkpoint.takenAt) - windowMs - EXPIRY_GRACE_SECONDS * 1000);
    return new Map(
      window.map(({ partition, offset }) => {
        const covered = checkpoint.covers.find((c) => c.topic === topic && c.partition === partition)?.offset ?? '0';
        const before = memory.find((m) => m.partition === partition)?.offset ?? '0';
        return [partition, Math.min(Number(offset), Number(before), Number(covered))];
      }),
    );
  }

  /** Every committed message of `topic` from `sinceMs` or per-partition offsets `from` (else its log start) to its end now, as inbound messages. */
  private read(topic: string, range: { sinceMs?: number; from?: Map<number, number> }, onMessages: (messages: InboundMessage[]) => Promise<void>) {
    return readTopicRange(this.kafka, { topic, ...range, timeoutMs: READ_TIMEOUT_MS, groupPrefix: `${this.env.JOIN_GROUP}-rebuild`, onMessages });
  }
}
