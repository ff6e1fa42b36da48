import { Global, Module } from '@nestjs/common';
import { ArmStatsStore } from './arm-stats.store';
import { DeploymentRegistry } from './deployment.registry';
import { JoinStateStore } from './join-state';
import { RedisClient } from './redis.client';

@Global()
@Module({
  providers: [RedisClient, DeploymentRegistry, ArmStatsStore, JoinStateStore],
  exports: [RedisClient, DeploymentRegistry, ArmStatsStore, JoinStateStore],
})
export class StoreModule {}
