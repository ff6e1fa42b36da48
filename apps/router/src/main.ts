import { runService } from '@switchyard/runtime';
import { routerService } from './router.service-definition';

void runService(routerService);
