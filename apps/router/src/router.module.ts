import { Module } from '@nestjs/common';
import { MessagingModule } from '@switchyard/messaging';
import { ModelClient, UrlAllowlist } from '@switchyard/model-client';
import { SpecLogModule } from '@switchyard/spec-log';
import { StoreModule } from '@switchyard/store';
import { AdminGuard, EvaluateGuard, FeedbackGuard, FlaggerReadGuard, ReadGuard } from './auth/guards';
import { RouterEnv } from './router.env';
import { DeploymentCache } from './deployments/deployment.cache';
import { DeploymentsController } from './deployments/deployments.controller';
import { DeploymentsService } from './deployments/deployments.service';
import { EvaluateController } from './evaluate/evaluate.controller';
import { EvaluateService } from './evaluate/evaluate.service';
import { HistoryService } from './history/history.service';
import { UiController } from './ui/ui.controller';
import { FeedbackController } from './feedback/feedback.controller';
import { KafkaIngressController } from './ingress/kafka-ingress.controller';
import { ArmWeights } from './predict/arm-weights';
import { PredictController } from './predict/predict.controller';
import { PredictService } from './predict/predict.service';
import { OipController } from './oip/oip.controller';
import { OipGrpcServer } from './oip/oip-grpc';
import { OipHttp } from './oip/oip-http';
import { OipService } from './oip/oip.service';
import { FlaggerController } from './verdict/flagger.controller';
import { VerdictController } from './verdict/verdict.controller';
import { VerdictService } from './verdict/verdict.service';
import { RequestIds } from './predict/request-ids';

@Module({
  imports: [MessagingModule, StoreModule, SpecLogModule],
  controllers: [
    DeploymentsController,
    EvaluateController,
    PredictController,
    OipController,
    FeedbackController,
    KafkaIngressController,
    UiController,
    VerdictController,
    FlaggerController,
  ],
  providers: [
    AdminGuard,
    FeedbackGuard,
    ReadGuard,
    FlaggerReadGuard,
    EvaluateGuard,
    { provide: UrlAllowlist, useFactory: (env: RouterEnv) => new UrlAllowlist(env.VARIANT_URL_ALLOW), inject: [RouterEnv] },
    DeploymentCache,
    DeploymentsService,
    ArmWeights,
    PredictService,
    OipService,
    OipHttp,
    OipGrpcServer,
    RequestIds,
    ModelClient,
    EvaluateService,
    HistoryService,
    VerdictService,
  ],
})
export class RouterModule {}
