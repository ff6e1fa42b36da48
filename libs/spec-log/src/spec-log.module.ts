import { Module } from '@nestjs/common';
import { SpecLog } from './spec-log';

/** For the services that change specs (router, rollout controller); needs MessagingModule and StoreModule. */
@Module({ providers: [SpecLog], exports: [SpecLog] })
export class SpecLogModule {}
