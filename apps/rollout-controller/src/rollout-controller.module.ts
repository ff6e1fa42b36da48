import { Module } from '@nestjs/common';
import { MessagingModule } from '@switchyard/messaging';
import { StoreModule } from '@switchyard/store';
import { RolloutReconciler } from './rollout/rollout.reconciler';

@Module({
  imports: [MessagingModule, StoreModule],
  providers: [RolloutReconciler],
})
export class RolloutControllerModule {}
