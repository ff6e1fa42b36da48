import { runService } from '@switchyard/runtime';
import { rolloutControllerService } from './rollout-controller.service-definition';

void runService(rolloutControllerService);
