import { Body, Controller, Get, HttpCode, Param, Post, ServiceUnavailableException } from '@nestjs/common';
import { HealthRegistry } from '@switchyard/runtime';
import { InferenceService } from './inference.service';

/**
 * Open Inference Protocol v2 (as KServe, Triton and MLServer serve it) and the plain
 * JSON protocol. Errors on these routes answer `{"error": "message"}` (OipExceptionFilter).
 */
@Controller()
export class InferenceController {
  constructor(
    private readonly inference: InferenceService,
    private readonly health: HealthRegistry,
  ) {}

  @Get('v2')
  serverMetadata() {
    return this.inference.serverMetadata();
  }

  @Get('v2/health/live')
  live() {
    return { live: true };
  }

  /** Not ready once shutdown has begun, so a load balancer stops sending inferences. */
  @Get('v2/health/ready')
  async ready() {
    const report = await this.health.report();
    if (!report.ready) {
      const failing = Object.entries(report.checks).filter(([, status]) => status !== 'ok');
      throw new ServiceUnavailableException(`not ready: ${failing.map(([name, status]) => `${name}=${status}`).join(', ')}`);
    }
    return { ready: true };
  }

  @Get('v2/models/:name')
  modelMetadata(@Param('name') name: string) {
    return this.inference.modelMetadata(name);
  }

  @Get('v2/models/:name/versions/:version')
  versionMetadata(@Param('name') name: string, @Param('version') version: string) {
    return this.inference.modelMetadata(name, version);
  }

  @Get('v2/models/:name/ready')
  modelReady(@Param('name') name: string) {
    return this.inference.modelReady(name);
  }

  @Get('v2/models/:name/versions/:version/ready')
  versionReady(@Param('name') name: string, @Param('version') version: string) {
    return this.inference.modelReady(name, version);
  }

  @Post('v2/models/:name/infer')
  @HttpCode(200)
  infer(@Param('name') name: string, @Body() body: unknown) {
    return this.inference.inferV2(name, body);
  }

  @Post('v2/models/:name/versions/:version/infer')
  @HttpCode(200)
  inferVersion(@Param('name') name: string, @Param('version') version: string, @Body() body: unknown) {
    return this.inference.inferV2(name, body, version);
  }

  /** Plain JSON: `{inputs: {features: [...]}}` or `{inputs: [...]}` → `{outputs: {label, score}}`. */
  @Post('json/:name')
  @HttpCode(200)
  inferJson(@Param('name') name: string, @Body() body: unknown) {
    return this.inference.inferJson(name, body);
  }
}
