import { Module } from '@nestjs/common';
import { MessagingModule } from '@switchyard/messaging';
import { JoinStateStore, RedisClient, SpecVersions, StoreModule } from '@switchyard/store';
import { ReportCheckpoints } from './checkpoints/report-checkpoints';
import { FeedbackJoinerEnv } from './feedback-joiner.env';
import { ExpirySweeper } from './join/expiry.sweeper';
import { JoinStateRebuilder } from './join/join-state.rebuilder';
import { JoinController } from './join/join.controller';
import { JoinService } from './join/join.service';

@Module({
  imports: [MessagingModule, StoreModule],
  controllers: [JoinController],
  providers: [
    JoinService,
    ExpirySweeper,
    JoinStateRebuilder,
    SpecVersions,
    ReportCheckpoints,
    // The joiner's own limits (JOIN_MAX_PENDING*) rather than the store's defaults.
    {
      provide: JoinStateStore,
      useFactory: (client: RedisClient, env: FeedbackJoinerEnv) => new JoinStateStore(client, env.pendingLimits()),
      inject: [RedisClient, FeedbackJoinerEnv],
    },
  ],
})
export class FeedbackJoinerModule {}
