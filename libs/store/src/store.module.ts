import { Global, Module } from '@nestjs/common';
import { ArmStatsStore } from './arm-stats.store';
import { BanditWeightsStore } from './bandit-weights.store';
import { DeploymentRegistry } from './deployment.registry';
import { JoinStateStore } from './join-state';
import { RedisClient } from './redis.client';
import { ReportStore } from './report.store';
import { RolloutStateStore } from './rollout-state.store';

@Global()
@Module({
  providers: [RedisClient, DeploymentRegistry, ArmStatsStore, BanditWeightsStore, JoinStateStore, ReportStore, RolloutStateStore],
  exports: [RedisClient, DeploymentRegistry, ArmStatsStore, BanditWeightsStore, JoinStateStore, ReportStore, RolloutStateStore],
})
export class StoreModule {}
