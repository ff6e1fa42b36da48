import { runService } from '@switchyard/runtime';
import { banditUpdaterService } from './bandit-updater.service-definition';

void runService(banditUpdaterService);
