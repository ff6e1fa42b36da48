import { runService } from '@switchyard/runtime';
import { modelServerService } from './model-server.service-definition';

void runService(modelServerService);
