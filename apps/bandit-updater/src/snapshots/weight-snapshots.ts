import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { DeploymentEvent, DeploymentSpec, envelope } from '@switchyard/contracts';
import { KafkaClient } from '@switchyard/messaging';
import { PeriodicTask } from '@switchyard/runtime';
import { ArmStatsStore, DeploymentRegistry, RedisClient } from '@switchyard/store';
import { banditWeights, DEFAULT_MIN_SHARE, rewardKindOf, servingSpec } from '@switchyard/strategies';
import { BanditUpdaterEnv } from '../bandit-updater.env';
import { updaterMetrics } from '../updater.metrics';

/**
 * Publishes the weights of bandit deployments whose statistics changed to
 * `deployment-events` (`action: "weights"`), at most once per SNAPSHOT_INTERVAL_MS per
 * deployment across all updaters: a Redis claim with that expiry decides who publishes.
 * The router computes its own weights from the same statistics; the snapshots are the
 * audit trail of how the shares moved.
 */
@Injectable()
export class WeightSnapshots implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(WeightSnapshots.name);
  private readonly dirty = new Set<string>();
  private readonly periodic: PeriodicTask;

  constructor(
    private readonly registry: DeploymentRegistry,
    private readonly stats: ArmStatsStore,
    private readonly redis: RedisClient,
    private readonly kafka: KafkaClient,
    private readonly env: BanditUpdaterEnv,
  ) {
    this.periodic = new PeriodicTask(() => this.publishDue(), env.SNAPSHOT_INTERVAL_MS);
  }

  onModuleInit(): void {
    this.periodic.start();
  }

  onModuleDestroy(): Promise<void> {
    return this.periodic.stop();
  }

  /** The statistics (or the arms) of `deployment` changed: its weights are due at the next tick. */
  changed(deployment: string): void {
    this.dirty.add(deployment);
  }

  async publishDue(): Promise<void> {
    for (const deployment of [...this.dirty]) {
      try {
        this.dirty.delete(deployment);
        const stored = await this.registry.get(deployment);
        const spec = stored && servingSpec(stored);
        if (spec?.strategy.type !== 'bandit') continue;
        const claimed = await this.redis.redis.set(`${this.redis.prefix}snapshot:${deployment}`, '1', 'PX', this.env.SNAPSHOT_INTERVAL_MS, 'NX');
        // Another updater published within the interval; ours is due after it.
        if (!claimed) {
          this.dirty.add(deployment);
          continue;
        }
        await this.publish(spec);
      } catch (error) {
        this.dirty.add(deployment);
        this.logger.warn({ deployment, error: (error as Error).message }, 'could not publish a weight snapshot; will retry');
      }
    }
  }

  private async publish(spec: DeploymentSpec): Promise<void> {
    const stats = await this.stats.read(spec.name);
    const arms = spec.variants.map((variant) => ({ name: variant.name, stats: stats[variant.name] }));
    const minShare = spec.strategy.minShare ?? DEFAULT_MIN_SHARE;
    const weights = banditWeights(spec.strategy.algorithm!, arms, {
      rng: Math.random,
      minShare,
      epsilon: spec.strategy.epsilon,
      vetoed: spec.strategy.vetoed,
      rewardKind: rewardKindOf(spec.reward),
    });
    const event: DeploymentEvent = {
      ...envelope('deployment'),
      deployment: spec.name,
      action: 'weights',
      specVersion: spec.version,
      detail: {
        algorithm: spec.strategy.algorithm,
        minShare,
        weights,
        stats: Object.fromEntries(arms.map((arm) => [arm.name, arm.stats ?? { count: 0, sum: 0, sumSq: 0 }])),
      },
    };
    await this.kafka.publishJson(this.kafka.topics.deploymentEvents, spec.name, event);
    updaterMetrics.snapshots.inc({ deployment: spec.name });
  }
}
