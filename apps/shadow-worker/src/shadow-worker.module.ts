import { Module } from '@nestjs/common';
import { MessagingModule } from '@switchyard/messaging';
import { ModelClient, UrlAllowlist } from '@switchyard/model-client';
import { SpecVersions, StoreModule } from '@switchyard/store';
import { ShadowWorkerEnv } from './shadow-worker.env';
import { ShadowController } from './shadow/shadow.controller';
import { ShadowService } from './shadow/shadow.service';

@Module({
  imports: [MessagingModule, StoreModule],
  controllers: [ShadowController],
  providers: [
    ShadowService,
    SpecVersions,
    ModelClient,
    { provide: UrlAllowlist, useFactory: (env: ShadowWorkerEnv) => new UrlAllowlist(env.VARIANT_URL_ALLOW), inject: [ShadowWorkerEnv] },
  ],
})
export class ShadowWorkerModule {}
