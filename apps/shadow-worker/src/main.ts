import { runService } from '@switchyard/runtime';
import { shadowWorkerService } from './shadow-worker.service-definition';

void runService(shadowWorkerService);
