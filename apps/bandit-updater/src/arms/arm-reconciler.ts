import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { DeploymentSpec } from '@switchyard/contracts';
import { ArmStatsStore, DeploymentRegistry, RegistryWatch } from '@switchyard/store';
import { servingSpec } from '@switchyard/strategies';
import { BanditUpdaterEnv } from '../bandit-updater.env';
import { WeightSnapshots } from '../snapshots/weight-snapshots';
import { updaterMetrics } from '../updater.metrics';

/**
 * Keeps each deployment's statistics on the arms of its current spec: an arm removed
 * by a spec change loses its statistics, an arm added starts empty, the others are not
 * touched. Runs for every deployment at start (before consuming), on every change
 * announced on the registry's channel, whenever the registry's epoch moved (a change
 * announced while this process was not listening), and after Redis was lost.
 */
@Injectable()
export class ArmReconciler implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ArmReconciler.name);
  /** One reconcile at a time in this process; Redis keeps concurrent processes consistent. */
  private readonly watch: RegistryWatch<DeploymentSpec[]>;

  constructor(
    private readonly registry: DeploymentRegistry,
    private readonly stats: ArmStatsStore,
    private readonly snapshots: WeightSnapshots,
    private readonly env: BanditUpdaterEnv,
  ) {
    this.watch = new RegistryWatch({
      feed: registry,
      reload: (name) => this.reconcile(name),
      refresh: {
        everyMs: env.RECONCILE_INTERVAL_MS,
        list: () => registry.list(),
        apply: async (specs) => {
          for (const spec of specs) await this.reconcile(spec.name);
        },
      },
      onError: (error, name) => this.logger.warn({ deployment: name, error: error.message }, 'could not reconcile arms; will retry'),
    });
  }

  onModuleInit(): Promise<void> {
    return this.watch.start();
  }

  onModuleDestroy(): Promise<void> {
    return this.watch.stop();
  }

  /** Redis lost the arm sets: the next tick reconciles every deployment, whatever the epoch says. */
  resync(): void {
    this.watch.resync();
  }

  async reconcile(name: string): Promise<void> {
    const [spec, arms] = await Promise.all([this.registry.get(name), this.registry.arms(name)]);
    if (!spec || !arms) {
      await this.stats.forget(name, this.env.TOMBSTONE_TTL_SECONDS);
      this.logger.log({ deployment: name }, 'deployment deleted: statistics removed');
      return;
    }
    // The registry recorded when each arm's current run began, and which life of the deployment this is.
    const removed = await this.stats.reconcileArms(name, arms.version, arms.since, arms.incarnation, this.env.TOMBSTONE_TTL_SECONDS);
    if (removed > 0) {
      updaterMetrics.armsRemoved.inc({ deployment: name }, removed);
      this.logger.log({ deployment: name, specVersion: arms.version, removed }, 'arms left the spec: their statistics were removed');
    }
    if (removed >= 0 && servingSpec(spec).strategy.type === 'bandit') this.snapshots.changed(name);
  }
}
