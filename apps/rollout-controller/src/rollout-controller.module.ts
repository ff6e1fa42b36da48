import { Module } from '@nestjs/common';
import { MessagingModule } from '@switchyard/messaging';
import { SpecLogModule } from '@switchyard/spec-log';
import { StoreModule } from '@switchyard/store';
import { RolloutReconciler } from './rollout/rollout.reconciler';

@Module({
  imports: [MessagingModule, StoreModule, SpecLogModule],
  providers: [RolloutReconciler],
})
export class RolloutControllerModule {}
