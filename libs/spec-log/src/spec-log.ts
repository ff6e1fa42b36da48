import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Counter } from 'prom-client';
import { envelope, parseAndValidate, RolloutWrite, SpecChangeEvent } from '@switchyard/contracts';
import { FollowedBatch, Following, KafkaClient } from '@switchyard/messaging';
import { HealthRegistry, PeriodicTask, recordsSkipped, retry } from '@switchyard/runtime';
import { ArmStatsStore, decodeSpecBody, DeploymentRegistry, encodeSpecBody, FoldedWriteKeys, ReportStore, RolloutStateStore } from '@switchyard/store';
import { applySpecChange, DeploymentRecord, emptyRecord, SpecOutcome, withoutLegacyStatus } from '@switchyard/strategies';

/** How often the cache is compared with the fold: how soon a Redis that lost it is restored. */
const CHECK_INTERVAL_MS = 1000;
/** How long a writer waits for its change to be read back and written to Redis. */
const READ_BACK_TIMEOUT_MS = 15000;

const metrics = {
  changes: new Counter({ name: 'switchyard_spec_log_changes_total', help: 'Spec changes folded from the spec log, by outcome', labelNames: ['outcome'] }),
  restores: new Counter({
    name: 'switchyard_spec_log_restores_total',
    help: 'Deployments written to Redis whole because Redis did not hold their fold (lost, flushed or behind)',
  }),
  rejected: new Counter({ name: 'switchyard_spec_log_rejected_total', help: 'Spec-log records that are not a valid spec change (skipped)' }),
};

export type SpecChangeRequest = Pick<SpecChangeEvent, 'deployment' | 'change' | 'body' | 'status' | 'expectedVersion' | 'rollout' | 'hold' | 'retry'>;

/**
 * Why a change's spec body is not one a PUT could have written (`decodeSpecBody`: the
 * spec's full validation; its name is the record's deployment). The body is opaque to the
 * event's class, and whoever may write the topic writes past PUT's checks: every process
 * folds the same log with the same rules, so they skip the same records and agree on versions.
 */
function bodyProblems(change: SpecChangeEvent): string[] {
  if (change.body === undefined) return [];
  // A body of the log's early records still carries rollout status, which the fold moves out.
  const hasStrategy = typeof change.body.strategy === 'object' && change.body.strategy !== null;
  const decoded = decodeSpecBody(encodeSpecBody(hasStrategy ? withoutLegacyStatus(change.body).body : change.body));
  const problems = decoded.ok ? [] : decoded.problems.map((problem) => `body: ${problem}`);
  if (change.body.name !== change.deployment) problems.push(`body.name must be the record's deployment "${change.deployment}"`);
  return problems;
}

/** A change was recorded but not read back in time: it may still apply. */
export class SpecLogTimeout extends Error {}

/**
 * The deployment registry's writer. Kafka (`deployment-specs`, keyed by deployment,
 * kept forever) is the record: a change is appended there first and is accepted once the
 * broker has it; every process running a SpecLog reads the whole log, folds it with
 * `applySpecChange` (versions, compare-and-set, rollback, arm lifetimes: the same answer
 * in every process, since they fold the same log in the same order) and writes the fold
 * to Redis, which `DeploymentRegistry` reads. Redis is a cache of it: a write of an
 * offset already there is a no-op, and every second the cache is compared with the fold
 * and rewritten whole where it is behind, so a Redis restarted empty is restored with
 * versions and history by whichever process notices first. A writer waits until its own
 * change has been folded and written, so it answers with the version the log gave it.
 */
@Injectable()
export class SpecLog implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(SpecLog.name);
  private readonly records = new Map<string, DeploymentRecord>();
  private readonly waiters = new Map<string, (outcome: SpecOutcome) => void>();
  private readonly check = new PeriodicTask(
    () => this.restoreBehind(),
    CHECK_INTERVAL_MS,
    (error) => this.logger.warn({ error: error.message }, 'could not compare the registry with the spec log; will retry'),
  );
  private following?: Following;
  private caughtUp = false;
  private stopping = false;

  constructor(
    private readonly kafka: KafkaClient,
    private readonly registry: DeploymentRegistry,
    private readonly reports: ReportStore,
    private readonly rewards: ArmStatsStore,
    private readonly rollouts: RolloutStateStore,
    private readonly health: HealthRegistry,
  ) {}

  async onModuleInit(): Promise<void> {
    // A group of its own: every process reads every partition from the start (nothing is committed).
    // The broker answers a fetch as soon as a record arrives, so the wait bounds only idle
    // polling: at 100 ms an idle router spent 37 ms of CPU a second, at 1000 ms 25.
    this.following = await this.kafka.followTopic({
      topic: this.kafka.topics.deploymentSpecs,
      groupId: `${this.kafka.clientId}.spec-log.${hostname()}.${process.pid}.${randomBytes(4).toString('hex')}`,
      from: 'beginning',
      consumer: { maxWaitTimeInMs: 1000 },
      onBatch: (batch) => this.fold(batch),
    });
    this.following.caughtUp.then(
      () => (this.caughtUp = true),
      (error: Error) => this.logger.error({ error: error.message }, 'the spec log consumer crashed for good'),
    );
    this.health.register('spec-log', async () => {
      if (!this.caughtUp) throw new Error('still reading the spec log');
    });
    this.check.start();
  }

  /**
   * Records a change and answers what it became once it is in Redis. Throws
   * `SpecLogTimeout` when that took too long (the change may still apply).
   */
  async submit(change: SpecChangeRequest): Promise<SpecOutcome> {
    const event: SpecChangeEvent = { ...envelope('specChange'), ...change };
    let timer!: NodeJS.Timeout;
    const outcome = new Promise<SpecOutcome>((resolve, reject) => {
      this.waiters.set(event.eventId, resolve);
      timer = setTimeout(
        () => reject(new SpecLogTimeout(`the change was recorded but not read back from the spec log within ${READ_BACK_TIMEOUT_MS} ms`)),
        READ_BACK_TIMEOUT_MS,
      );
    });
    try {
      await this.kafka.appendJson(this.kafka.topics.deploymentSpecs, change.deployment, event);
      return await outcome;
    } finally {
      clearTimeout(timer);
      this.waiters.delete(event.eventId);
    }
  }

  private async fold({ partition, messages, heartbeat }: FollowedBatch): Promise<void> {
    for (const message of messages) {
      const offset = Number(message.offset);
      const parsed = parseAndValidate(SpecChangeEvent, message.value);
      const problems = parsed.ok ? bodyProblems(parsed.value) : parsed.problems;
      if (!parsed.ok || problems.length) {
        metrics.rejected.inc();
        recordsSkipped.inc({ reader: 'spec-log', topic: message.topic });
        this.logger.error({ partition, offset, problems }, 'skipped a spec-log record that is not a valid spec change');
        continue;
      }
      const change = parsed.value;
      const record = this.records.get(change.deployment) ?? emptyRecord();
      this.records.set(change.deployment, record);
      const previousOffset = record.offset;
      const outcome = applySpecChange(record, change, offset);
      metrics.changes.inc({ outcome: outcome.result });
      // The rollout controller's outbox learns the version its decision wrote in the same step.
      const controller = outcome.result === 'written' && change.rollout ? { write: change.rollout, writtenVersion: outcome.version } : undefined;
      const rollout = this.rolloutFields(record, controller);
      await this.untilWritten(change.deployment, record, previousOffset, rollout, heartbeat);
      this.waiters.get(change.eventId)?.(outcome);
    }
  }

  /** Writes the fold to Redis, retrying while Redis is away (the partition waits: order matters). */
  private async untilWritten(
    name: string,
    record: DeploymentRecord,
    previousOffset: number,
    rollout: Record<string, string> | undefined,
    heartbeat: () => Promise<void>,
  ): Promise<void> {
    await retry(
      async () => {
        if ((await this.registry.write(name, record, { previousOffset, whole: false, rollout, keys: this.keysOf(name) })) === 'behind')
          await this.restore(name, record, rollout);
      },
      {
        baseMs: 100,
        maxMs: 1000,
        retryIf: () => !this.stopping,
        onRetry: async (error) => {
          this.logger.warn({ deployment: name, error: (error as Error).message }, 'could not write the registry to Redis; retrying');
          await heartbeat();
        },
      },
    );
  }

  private async restore(name: string, record: DeploymentRecord, rollout = this.rolloutFields(record)): Promise<void> {
    if ((await this.registry.write(name, record, { previousOffset: -1, whole: true, rollout, keys: this.keysOf(name) })) !== 'written') return;
    metrics.restores.inc();
    this.logger.log({ deployment: name, offset: record.offset, version: record.current ?? null }, 'registry restored from the spec log');
  }

  /** Rewrites whole every deployment whose cache is behind the fold (e.g. Redis restarted empty). */
  private async restoreBehind(): Promise<void> {
    if (!this.caughtUp) return;
    const records = [...this.records];
    // Sent together (the connection pipelines them): one round trip a second, whatever the number of deployments.
    const offsets = await Promise.all(records.map(([name]) => this.registry.offset(name)));
    for (const [i, [name, record]] of records.entries()) if (offsets[i] < record.offset) await this.restore(name, record);
  }

  /** The rollout hash's fields a write sets: the folded status (none once deleted), and what the controller sent along. */
  private rolloutFields(record: DeploymentRecord, controller?: { write: RolloutWrite; writtenVersion: number }): Record<string, string> {
    return this.rollouts.fields({ ...(!record.deleted && { status: record.status }), ...controller });
  }

  private keysOf(name: string): FoldedWriteKeys {
    return { rollout: this.rollouts.key(name), removedWithDeletion: [this.reports.key(name), this.reports.feedbackKey(name), this.rewards.key(name)] };
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.check.stop();
    await this.following?.stop();
  }
}
