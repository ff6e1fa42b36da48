import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { StateCheckpoint } from '@switchyard/contracts';
import { checkpointMetrics, CheckpointWriter, coveredOffsets, KafkaClient } from '@switchyard/messaging';
import { PeriodicTask } from '@switchyard/runtime';
import { DeploymentRegistry, JoinStateStore, ReportStore } from '@switchyard/store';
import { FeedbackJoinerEnv } from '../feedback-joiner.env';

/**
 * Checkpoints of the report counters (every CHECKPOINT_INTERVAL_MS, only while the join
 * state is whole, i.e. every bucket has its marker): the joiner group's committed offsets
 * of the prediction topics first, then each deployment's report (counters and positions,
 * one atomic read), as chunks and a manifest keyed `report` on the compacted checkpoints
 * topic (CheckpointWriter: no record passes the broker's limit, however many units). A
 * rebuild then recounts from there (JoinStateRebuilder) instead of from the prediction
 * topics' log start, so its time no longer grows with their retention.
 */
@Injectable()
export class ReportCheckpoints implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ReportCheckpoints.name);
  private readonly periodic: PeriodicTask;
  private readonly writer: CheckpointWriter;

  constructor(
    private readonly state: JoinStateStore,
    private readonly reports: ReportStore,
    private readonly registry: DeploymentRegistry,
    private readonly kafka: KafkaClient,
    private readonly env: FeedbackJoinerEnv,
  ) {
    this.writer = new CheckpointWriter(kafka, 'report', { groupPrefix: `${env.JOIN_GROUP}-checkpoint`, logger: this.logger });
    this.periodic = new PeriodicTask(
      () => this.take().then(() => undefined),
      env.CHECKPOINT_INTERVAL_MS,
      (error) => this.logger.warn({ error: error.message }, 'could not checkpoint the report counters; will retry'),
    );
  }

  onModuleInit(): void {
    this.periodic.start();
  }

  onModuleDestroy(): Promise<void> {
    return this.periodic.stop();
  }

  /** Takes a checkpoint unless the join state is being rebuilt; answers whether it did. */
  async take(): Promise<boolean> {
    if (!(await this.state.ready())) return false;
    const { topics } = this.kafka;
    const covers = await coveredOffsets(this.kafka, this.env.JOIN_GROUP, [topics.predictions, topics.shadowPredictions]);
    const names = [...new Set([...(await this.registry.names()), ...(await this.reports.deployments.members())])];
    const deployments: StateCheckpoint['deployments'] = {};
    for (const name of names) {
      const hashes = await this.reports.snapshot(name);
      if (Object.keys(hashes).length) deployments[name] = hashes;
    }
    // Redis lost meanwhile: what was read may be partial.
    if (!(await this.state.ready())) return false;
    const checkpoint: StateCheckpoint = { store: 'report', takenAt: new Date().toISOString(), covers, deployments };
    await this.writer.write(checkpoint);
    checkpointMetrics.written.inc({ store: 'report' });
    return true;
  }
}
