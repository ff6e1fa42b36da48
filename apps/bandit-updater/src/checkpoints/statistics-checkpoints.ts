import { randomUUID } from 'node:crypto';
import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { CoveredOffset, StateCheckpoint } from '@switchyard/contracts';
import { checkpointMetrics, CheckpointWriter, coveredOffsets, KafkaClient, readCheckpoint, TransientError } from '@switchyard/messaging';
import { PeriodicTask } from '@switchyard/runtime';
import { ArmStatsStore, DeploymentRegistry, RedisClient } from '@switchyard/store';
import { BanditUpdaterEnv } from '../bandit-updater.env';

/** How long the restore lock lives: a restorer that died frees it by then. */
const LOCK_MS = 60000;

/**
 * Checkpoints of the reward statistics, so that a rebuild after Redis lost them reads the
 * latest checkpoint plus the joined topic after it, not the topic from its log start.
 *
 * Taking one (every CHECKPOINT_INTERVAL_MS, only while every joined partition the group
 * consumed from is tracked, i.e. the statistics are whole): the group's committed offsets first, then each
 * deployment's statistics hashes (`STATISTICS_KINDS`, one atomic read per deployment), as
 * chunks and a manifest keyed `statistics` on the compacted checkpoints topic
 * (CheckpointWriter: no record passes the broker's limit, however many deployments, arms,
 * cohort cells, units and ridge sums). Offsets are committed only
 * after Redis took a batch in, so each deployment's hashes hold at least everything below
 * the offsets read before them.
 *
 * Restoring (once per loss, under a lock), from the newest complete checkpoint (the one
 * before it if the newest is incomplete): each deployment's hashes are written back
 * unless Redis already holds its positions, then every joined partition is marked with
 * the offset the checkpoint covers it to; each partition's handler then reads again from
 * there (RewardsService), the positions skipping what the checkpoint already holds.
 */
@Injectable()
export class StatisticsCheckpoints implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(StatisticsCheckpoints.name);
  private readonly periodic: PeriodicTask;
  private readonly owner = randomUUID();
  private readonly writer: CheckpointWriter;

  constructor(
    private readonly stats: ArmStatsStore,
    private readonly registry: DeploymentRegistry,
    private readonly redis: RedisClient,
    private readonly kafka: KafkaClient,
    private readonly env: BanditUpdaterEnv,
  ) {
    this.writer = new CheckpointWriter(kafka, 'statistics', { groupPrefix: `${env.UPDATE_GROUP}-checkpoint`, logger: this.logger });
    this.periodic = new PeriodicTask(
      () => this.take().then(() => undefined),
      env.CHECKPOINT_INTERVAL_MS,
      (error) => this.logger.warn({ error: error.message }, 'could not checkpoint the statistics; will retry'),
    );
  }

  onModuleInit(): void {
    this.periodic.start();
  }

  onModuleDestroy(): Promise<void> {
    return this.periodic.stop();
  }

  /** Takes a checkpoint unless the statistics are not whole; answers whether it did. */
  async take(): Promise<boolean> {
    const topic = this.kafka.topics.joined;
    const covers = await coveredOffsets(this.kafka, this.env.UPDATE_GROUP, [topic]);
    if (!(await this.whole(topic, covers))) return false;
    const names = [...new Set([...(await this.registry.names()), ...(await this.stats.deployments.members())])];
    const deployments: StateCheckpoint['deployments'] = {};
    for (const name of names) {
      const hashes = await this.stats.snapshot(name);
      if (Object.keys(hashes).length) deployments[name] = hashes;
    }
    // Redis lost meanwhile: what was read may be partial.
    if (!(await this.whole(topic, covers))) return false;
    const checkpoint: StateCheckpoint = { store: 'statistics', takenAt: new Date().toISOString(), covers, deployments };
    const { chunks } = await this.writer.write(checkpoint);
    checkpointMetrics.written.inc({ store: 'statistics' });
    this.logger.debug({ deployments: Object.keys(deployments).length, chunks }, 'checkpointed the statistics');
    return true;
  }

  /**
   * After a loss: writes the newest complete checkpoint back (once, whichever updater gets
   * here first) and marks each partition with the offset it covers. False when there is no
   * complete checkpoint (the partitions are then read from their log start); a TransientError
   * while another updater is restoring.
   */
  async restore(): Promise<boolean> {
    const lockKey = `${this.redis.prefix}statistics:restore-lock`;
    if ((await this.redis.redis.set(lockKey, this.owner, 'PX', LOCK_MS, 'NX')) !== 'OK')
      throw new TransientError('the statistics are being restored from a checkpoint by another updater');
    try {
      const started = Date.now();
      const found = await readCheckpoint(this.kafka, this.kafka.topics.checkpoints, 'statistics', {
        groupPrefix: `${this.env.UPDATE_GROUP}-restore`,
        logger: this.logger,
      });
      if (!('checkpoint' in found)) {
        checkpointMetrics.restored.inc({ store: 'statistics', outcome: found.outcome });
        return false;
      }
      const { checkpoint } = found;
      let restored = 0;
      for (const [name, hashes] of Object.entries(checkpoint.deployments)) if (await this.stats.restore(name, hashes)) restored++;
      await this.stats.deployments.note(Object.keys(checkpoint.deployments));
      await this.stats.markRestored(checkpoint.covers.filter((c) => c.topic === this.kafka.topics.joined));
      checkpointMetrics.restored.inc({ store: 'statistics', outcome: found.outcome });
      this.logger.warn(
        { takenAt: checkpoint.takenAt, deployments: restored, covers: checkpoint.covers, ms: Date.now() - started },
        'statistics restored from their checkpoint; reading the joined topic again from the offsets it covers',
      );
      return true;
    } finally {
      await this.redis.redis.releaseLock(lockKey, this.owner).catch(() => undefined);
    }
  }

  /** Every partition of the joined topic tracked, or never consumed from: the statistics hold what the offsets cover. */
  private async whole(topic: string, covers: CoveredOffset[]): Promise<boolean> {
    const tracked = await Promise.all(covers.map((c) => (c.offset === '0' ? true : this.stats.isTracked(topic, c.partition))));
    return tracked.every(Boolean);
  }
}
