import { ServiceDefinition } from '@switchyard/runtime';
import { RolloutControllerEnv } from './rollout-controller.env';
import { RolloutControllerModule } from './rollout-controller.module';

export const rolloutControllerService: ServiceDefinition<RolloutControllerEnv> = {
  name: 'rollout-controller',
  summary: 'judges deployments with guardrails on joined ground truth and rolls back, promotes, pauses or vetoes',
  envClass: RolloutControllerEnv,
  module: () => RolloutControllerModule,
};
