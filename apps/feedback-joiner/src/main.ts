import { runService } from '@switchyard/runtime';
import { feedbackJoinerService } from './feedback-joiner.service-definition';

void runService(feedbackJoinerService);
