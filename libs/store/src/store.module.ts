import { Global, Module } from '@nestjs/common';
import { ArmStatsStore } from './arm-stats.store';
import { DeploymentRegistry } from './deployment.registry';
import { RedisClient } from './redis.client';

@Global()
@Module({ providers: [RedisClient, DeploymentRegistry, ArmStatsStore], exports: [RedisClient, DeploymentRegistry, ArmStatsStore] })
export class StoreModule {}
