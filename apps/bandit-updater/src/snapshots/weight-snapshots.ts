import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { BanditStrategySpec, DeploymentEvent, DeploymentSpec, envelope } from '@switchyard/contracts';
import { KafkaClient } from '@switchyard/messaging';
import { PeriodicTask } from '@switchyard/runtime';
import { ArmStatsStore, BanditWeightsStore, DeploymentRegistry, StoredPolicy } from '@switchyard/store';
import {
  banditWeights,
  contextFreeAlgorithm,
  contextualStrategy,
  DEFAULT_MIN_SHARE,
  fitContextualPolicy,
  policyModels,
  readRidgeHash,
  rewardKindOf,
  segmentWeights,
  servingSpec,
} from '@switchyard/strategies';
import { BanditUpdaterEnv } from '../bandit-updater.env';
import { updaterMetrics } from '../updater.metrics';

/**
 * Checks for due snapshots this many times per SNAPSHOT_INTERVAL_MS. A check once per
 * interval, against a claim that expires after one interval, found its own previous claim
 * still held about every other time (taken a few ms into the previous check): weights came
 * every two intervals, not one, and the bandit learned from rewards up to 3 s old (the
 * regret bench: a 1.97 s median gap between snapshots at SNAPSHOT_INTERVAL_MS=1000).
 * Checking more often puts the next snapshot at most a quarter interval after the claim
 * expires; a check with nothing changed costs nothing.
 */
const CHECKS_PER_INTERVAL = 4;

/**
 * Computes the weights of a bandit deployment once per change, for every router: when its
 * statistics (or its arms) changed, at most once per SNAPSHOT_INTERVAL_MS per deployment
 * across all updaters. A Redis claim with that expiry decides which updater computes;
 * the weights go to Redis (`BanditWeightsStore`, compare-and-set on the version read
 * before computing, so versions only grow and older weights never overwrite newer ones)
 * and then, with the same `weightsVersion`, to `deployment-events` (`action: "weights"`)
 * as the audit trail of what the routers served. Routers read the stored weights when the
 * store announces them; the prediction events they log name the version.
 */
@Injectable()
export class WeightSnapshots implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(WeightSnapshots.name);
  private readonly dirty = new Set<string>();
  /** Snapshots stored in Redis whose audit event Kafka has not acknowledged yet. */
  private readonly unpublished = new Map<string, DeploymentEvent>();
  private readonly periodic: PeriodicTask;

  constructor(
    private readonly registry: DeploymentRegistry,
    private readonly stats: ArmStatsStore,
    private readonly store: BanditWeightsStore,
    private readonly kafka: KafkaClient,
    private readonly env: BanditUpdaterEnv,
  ) {
    this.periodic = new PeriodicTask(() => this.publishDue(), env.SNAPSHOT_INTERVAL_MS / CHECKS_PER_INTERVAL);
  }

  onModuleInit(): void {
    this.periodic.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.periodic.stop();
    await this.publishPending();
  }

  /** The statistics (or the arms) of `deployment` changed: its weights are due at the next tick. */
  changed(deployment: string): void {
    this.dirty.add(deployment);
  }

  async publishDue(): Promise<void> {
    await this.publishPending();
    for (const deployment of [...this.dirty]) {
      try {
        this.dirty.delete(deployment);
        const stored = await this.registry.get(deployment);
        const spec = stored && servingSpec(stored);
        if (spec?.strategy.type !== 'bandit') continue;
        // Its last snapshot is not on the audit trail yet: no newer one before it is.
        if (this.unpublished.has(deployment)) {
          this.dirty.add(deployment);
          continue;
        }
        // Another updater computed within the interval; ours is due after it.
        if (!(await this.store.claimSnapshot(deployment, this.env.SNAPSHOT_INTERVAL_MS))) {
          this.dirty.add(deployment);
          continue;
        }
        await this.computeAndStore(spec, spec.strategy);
      } catch (error) {
        this.dirty.add(deployment);
        this.logger.warn({ deployment, error: (error as Error).message }, 'could not compute bandit weights; will retry');
      }
    }
  }

  /** Audit events of weights already stored: published before anything newer, so the trail has every version. */
  private async publishPending(): Promise<void> {
    for (const [deployment, event] of [...this.unpublished]) {
      try {
        await this.kafka.publishJson(this.kafka.topics.deploymentEvents, deployment, event);
        this.unpublished.delete(deployment);
        updaterMetrics.snapshots.inc({ deployment });
      } catch (error) {
        this.logger.warn({ deployment, error: (error as Error).message }, 'could not publish a weight snapshot; will retry');
      }
    }
  }

  private async computeAndStore(spec: DeploymentSpec, bandit: BanditStrategySpec): Promise<void> {
    // Read before the statistics: a write by anyone after this makes ours stale, and the store refuses it.
    const expected = await this.store.version(spec.name);
    const stats = await this.stats.read(spec.name);
    const arms = spec.variants.map((variant) => ({ name: variant.name, stats: stats[variant.name] }));
    const minShare = bandit.minShare ?? DEFAULT_MIN_SHARE;
    const contextual = contextualStrategy(bandit);
    const weights = banditWeights(contextFreeAlgorithm(bandit.algorithm), arms, {
      rng: Math.random,
      minShare,
      epsilon: bandit.epsilon,
      vetoed: spec.status?.vetoed,
      rewardKind: rewardKindOf(spec.reward),
    });
    const now = new Date();
    const computedAt = now.toISOString();
    const policy = contextual && (await this.contextualPolicy(spec, contextual, now.getTime() / 1000));
    const weightsVersion = await this.store.write(spec.name, expected, weights, spec.version, computedAt, policy);
    if (weightsVersion === undefined) {
      this.logger.log({ deployment: spec.name, expected }, 'newer weights were stored meanwhile; recomputing at the next tick');
      this.dirty.add(spec.name);
      return;
    }
    const event: DeploymentEvent = {
      ...envelope('deployment'),
      deployment: spec.name,
      action: 'weights',
      specVersion: spec.version,
      detail: {
        algorithm: bandit.algorithm,
        minShare,
        weights,
        weightsVersion,
        computedAt,
        stats: Object.fromEntries(arms.map((arm) => [arm.name, arm.stats ?? { count: 0, sum: 0, sumSq: 0 }])),
        ...(policy && { segments: policy.segments, ridgeWeight: Object.fromEntries(policy.policy.arms.map((arm) => [arm.name, arm.weight])) }),
      },
    };
    this.unpublished.set(spec.name, event);
    await this.publishPending();
  }

  /** The arms' models fitted on their ridge sums as of `atSeconds`, and the shares they give each segment. */
  private async contextualPolicy(spec: DeploymentSpec, strategy: NonNullable<ReturnType<typeof contextualStrategy>>, atSeconds: number): Promise<StoredPolicy> {
    const read = readRidgeHash(await this.stats.readRidge(spec.name), strategy);
    await this.stats.dropRidge(spec.name, read.stale);
    const variants = spec.variants.map((variant) => variant.name);
    const policy = fitContextualPolicy(strategy, variants, read.stats, rewardKindOf(spec.reward), atSeconds);
    const segments = segmentWeights(strategy, policyModels(policy)!.models, { rng: Math.random, vetoed: spec.status?.vetoed });
    return { policy, segments };
  }
}
