import { Global, Module } from '@nestjs/common';
import { ArmStatsStore } from './arm-stats.store';
import { BanditWeightsStore } from './bandit-weights.store';
import { DeploymentRegistry } from './deployment.registry';
import { JoinStateStore } from './join-state';
import { RedisClient } from './redis.client';
import { ReportStore } from './report.store';

@Global()
@Module({
  providers: [RedisClient, DeploymentRegistry, ArmStatsStore, BanditWeightsStore, JoinStateStore, ReportStore],
  exports: [RedisClient, DeploymentRegistry, ArmStatsStore, BanditWeightsStore, JoinStateStore, ReportStore],
})
export class StoreModule {}
