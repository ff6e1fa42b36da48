import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { DeploymentSpec } from '@switchyard/contracts';
import { PeriodicTask } from '@switchyard/runtime';
import { BanditWeightsStore, StoredWeights } from '@switchyard/store';
import { DeploymentCache } from '../deployments/deployment.cache';
import { RouterEnv } from '../router.env';

/**
 * Bandit weights as the bandit updater computed and stored them (`BanditWeightsStore`),
 * read for every bandit deployment once per REFRESH_INTERVAL_MS in one round trip, so
 * a prediction only samples from memory and every router serves the same policy. The
 * router computes no weights itself: until the updater has stored some for a bandit,
 * its arms get the same share.
 */
@Injectable()
export class ArmWeights implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ArmWeights.name);
  private weights = new Map<string, StoredWeights>();
  private readonly periodic: PeriodicTask;

  constructor(
    private readonly cache: DeploymentCache,
    private readonly store: BanditWeightsStore,
    env: RouterEnv,
  ) {
    this.periodic = new PeriodicTask(() => this.refresh(), env.REFRESH_INTERVAL_MS);
  }

  async onModuleInit(): Promise<void> {
    await this.refresh();
    this.periodic.start();
  }

  onModuleDestroy(): Promise<void> {
    return this.periodic.stop();
  }

  /** Undefined for other strategies, and for a bandit whose weights were never stored: arms are then uniform. */
  get(spec: DeploymentSpec): StoredWeights | undefined {
    return spec.strategy.type === 'bandit' ? this.weights.get(spec.name) : undefined;
  }

  private async refresh(): Promise<void> {
    const bandits = this.cache.all().filter((spec) => spec.strategy.type === 'bandit');
    try {
      this.weights = await this.store.readMany(bandits.map((spec) => spec.name));
    } catch (error) {
      this.logger.warn({ error: (error as Error).message }, 'could not read bandit weights; keeping the last ones');
    }
  }
}
