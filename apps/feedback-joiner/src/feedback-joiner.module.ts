import { Module } from '@nestjs/common';
import { MessagingModule } from '@switchyard/messaging';
import { SpecVersions, StoreModule } from '@switchyard/store';
import { ReportCheckpoints } from './checkpoints/report-checkpoints';
import { ExpirySweeper } from './join/expiry.sweeper';
import { JoinStateRebuilder } from './join/join-state.rebuilder';
import { JoinController } from './join/join.controller';
import { JoinService } from './join/join.service';

@Module({
  imports: [MessagingModule, StoreModule],
  controllers: [JoinController],
  providers: [JoinService, ExpirySweeper, JoinStateRebuilder, SpecVersions, ReportCheckpoints],
})
export class FeedbackJoinerModule {}
