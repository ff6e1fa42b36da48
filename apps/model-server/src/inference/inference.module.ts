import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { InferenceController } from './inference.controller';
import { InferenceService } from './inference.service';
import { OipExceptionFilter } from './oip-exception.filter';

/** Needs the runtime's global providers: `ModelServerEnv` and `HealthRegistry`. */
@Module({
  controllers: [InferenceController],
  providers: [InferenceService, { provide: APP_FILTER, useClass: OipExceptionFilter }],
})
export class InferenceModule {}
