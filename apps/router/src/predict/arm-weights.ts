import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { DeploymentSpec } from '@switchyard/contracts';
import { ArmStatsStore } from '@switchyard/store';
import { banditWeights, rewardKindOf } from '@switchyard/strategies';
import { DeploymentCache } from '../deployments/deployment.cache';
import { RouterEnv } from '../router.env';

/**
 * Bandit weights, recomputed from the arm statistics in Redis once per refresh
 * interval for every bandit deployment, so a prediction only samples from memory.
 */
@Injectable()
export class ArmWeights implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ArmWeights.name);
  private weights = new Map<string, Record<string, number>>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly cache: DeploymentCache,
    private readonly stats: ArmStatsStore,
    private readonly env: RouterEnv,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.env.REFRESH_INTERVAL_MS);
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** Undefined until the first refresh after a bandit appears: arms are then uniform. */
  get(spec: DeploymentSpec): Record<string, number> | undefined {
    return spec.strategy.type === 'bandit' ? this.weights.get(spec.name) : undefined;
  }

  private async refresh(): Promise<void> {
    const bandits = this.cache.all().filter((spec) => spec.strategy.type === 'bandit');
    try {
      const stats = await this.stats.readMany(bandits.map((spec) => spec.name));
      this.weights = new Map(
        bandits.map((spec) => {
          const arms = spec.variants.map((variant) => ({ name: variant.name, stats: stats.get(spec.name)?.[variant.name] }));
          const weights = banditWeights(spec.strategy.algorithm!, arms, {
            rng: Math.random,
            minShare: spec.strategy.minShare,
            epsilon: spec.strategy.epsilon,
            vetoed: spec.strategy.vetoed,
            rewardKind: rewardKindOf(spec.reward),
          });
          return [spec.name, weights];
        }),
      );
    } catch (error) {
      this.logger.warn({ error: (error as Error).message }, 'could not refresh bandit weights; keeping the last ones');
    }
  }
}
