import { KafkaClient } from '@switchyard/messaging';
import { ServiceDefinition } from '@switchyard/runtime';
import { BanditUpdaterEnv } from './bandit-updater.env';
import { BanditUpdaterModule } from './bandit-updater.module';

export const banditUpdaterService: ServiceDefinition<BanditUpdaterEnv> = {
  name: 'bandit-updater',
  summary: 'turns joined rewards into per-variant statistics and bandit weights in Redis',
  envClass: BanditUpdaterEnv,
  module: () => BanditUpdaterModule,
  // Not transactional: the updater's output is Redis, made idempotent by per-partition positions.
  consumers: (app, env) => app.get(KafkaClient).consumerServer(env.UPDATE_GROUP, ['joined']),
};
