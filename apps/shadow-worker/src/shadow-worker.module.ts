import { Module } from '@nestjs/common';
import { MessagingModule } from '@switchyard/messaging';
import { StoreModule } from '@switchyard/store';

@Module({ imports: [MessagingModule, StoreModule] })
export class ShadowWorkerModule {}
