import { Module } from '@nestjs/common';
import { MessagingModule } from '@switchyard/messaging';
import { ModelClient } from '@switchyard/model-client';
import { StoreModule } from '@switchyard/store';
import { AdminGuard } from './deployments/admin.guard';
import { DeploymentCache } from './deployments/deployment.cache';
import { DeploymentsController } from './deployments/deployments.controller';
import { DeploymentsService } from './deployments/deployments.service';
import { HistoryService } from './history/history.service';
import { UiController } from './ui/ui.controller';
import { FeedbackController } from './feedback/feedback.controller';
import { KafkaIngressController } from './ingress/kafka-ingress.controller';
import { ArmWeights } from './predict/arm-weights';
import { PredictController } from './predict/predict.controller';
import { PredictService } from './predict/predict.service';

@Module({
  imports: [MessagingModule, StoreModule],
  controllers: [DeploymentsController, PredictController, FeedbackController, KafkaIngressController, UiController],
  providers: [AdminGuard, DeploymentCache, DeploymentsService, ArmWeights, PredictService, ModelClient, HistoryService],
})
export class RouterModule {}
