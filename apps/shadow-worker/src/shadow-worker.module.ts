import { Module } from '@nestjs/common';
import { MessagingModule } from '@switchyard/messaging';
import { ModelClient } from '@switchyard/model-client';
import { SpecVersions, StoreModule } from '@switchyard/store';
import { ShadowController } from './shadow/shadow.controller';
import { ShadowService } from './shadow/shadow.service';

@Module({
  imports: [MessagingModule, StoreModule],
  controllers: [ShadowController],
  providers: [ShadowService, SpecVersions, ModelClient],
})
export class ShadowWorkerModule {}
