import { Module } from '@nestjs/common';
import { MessagingModule } from '@switchyard/messaging';
import { StoreModule } from '@switchyard/store';
import { ArmReconciler } from './arms/arm-reconciler';
import { StatisticsCheckpoints } from './checkpoints/statistics-checkpoints';
import { RewardsController } from './rewards/rewards.controller';
import { RewardsService } from './rewards/rewards.service';
import { WeightSnapshots } from './snapshots/weight-snapshots';

@Module({
  imports: [MessagingModule, StoreModule],
  controllers: [RewardsController],
  providers: [RewardsService, ArmReconciler, WeightSnapshots, StatisticsCheckpoints],
})
export class BanditUpdaterModule {}
