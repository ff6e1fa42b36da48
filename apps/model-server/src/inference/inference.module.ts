import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { InferenceController } from './inference.controller';
import { InferenceGrpcServer } from './inference.grpc';
import { InferenceService } from './inference.service';
import { OipExceptionFilter } from './oip-exception.filter';

/** Needs the runtime's global providers: `ModelServerEnv` and `HealthRegistry`. REST always, gRPC on GRPC_PORT. */
@Module({
  controllers: [InferenceController],
  providers: [InferenceService, InferenceGrpcServer, { provide: APP_FILTER, useClass: OipExceptionFilter }],
})
export class InferenceModule {}
