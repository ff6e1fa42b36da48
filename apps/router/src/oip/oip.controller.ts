import { Body, Controller, Get, HttpCode, Param, Post, Res, UseGuards } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { BINARY_HEADER, binaryBody, oipStringify } from '@switchyard/contracts';
import type { FastifyReply } from 'fastify';
import { ApiOipErrors } from '../openapi/openapi';
import { HopGuard } from '../predict/hop.guard';
import { OipAnswer, OipService, SERVER_METADATA } from './oip.service';

const INFER_BODY = {
  description:
    "an OIP inference_request (libs/contracts/oip/spec/open_inference_rest.yaml), as JSON or in Triton's binary tensor extension (Inference-Header-Content-Length: the JSON, then the binary inputs' bytes)",
  schema: { type: 'object' },
};

/**
 * The Open Inference Protocol's REST API (KServe v2), each deployment served as a model:
 * existing OIP clients (tritonclient, the KServe SDK) point at Switchyard unchanged.
 * Bodies and error shapes are handled below the controller (OipHttp).
 */
@ApiTags('open inference protocol')
@Controller('v2')
export class OipController {
  constructor(private readonly oip: OipService) {}

  @Get()
  @ApiOperation({ summary: 'server metadata' })
  serverMetadata() {
    return SERVER_METADATA;
  }

  @Get('health/live')
  @ApiOperation({ summary: 'server liveness' })
  live() {
    return { live: true };
  }

  @Get('health/ready')
  @ApiOperation({ summary: 'server readiness (Kafka and Redis answer; 503 while shutting down)' })
  ready() {
    return this.oip.serverReady();
  }

  @Get('models/:name')
  @ApiOperation({ summary: "a deployment's model metadata: its variants as versions, the tensors of the variant serving most traffic" })
  @ApiOkResponse({ description: 'an OIP metadata or readiness response' })
  @ApiOipErrors(400, 404)
  metadata(@Param('name') name: string) {
    return this.oip.metadata(name);
  }

  @Get('models/:name/ready')
  @ApiOperation({ summary: 'ready when every serving variant is' })
  @ApiOkResponse({ description: 'an OIP metadata or readiness response' })
  @ApiOipErrors(400, 404)
  modelReady(@Param('name') name: string) {
    return this.oip.ready(name);
  }

  @Get('models/:name/versions/:version')
  @ApiOperation({ summary: "one variant's model metadata" })
  @ApiOkResponse({ description: 'an OIP metadata or readiness response' })
  @ApiOipErrors(400, 404)
  versionMetadata(@Param('name') name: string, @Param('version') version: string) {
    return this.oip.metadata(name, version);
  }

  @Get('models/:name/versions/:version/ready')
  @ApiOperation({ summary: 'ready when the variant is' })
  @ApiOkResponse({ description: 'an OIP metadata or readiness response' })
  @ApiOipErrors(400, 404)
  versionReady(@Param('name') name: string, @Param('version') version: string) {
    return this.oip.ready(name, version);
  }

  @Post('models/:name/infer')
  @UseGuards(HopGuard)
  @HttpCode(200)
  @ApiOperation({ summary: 'inference by the variant the strategy chooses; model_version names it' })
  @ApiBody(INFER_BODY)
  @ApiOkResponse({ description: 'an OIP inference_response' })
  @ApiOipErrors(400, 404, 409, 413, 415, 422, 429, 502, 503)
  async infer(@Param('name') name: string, @Body() body: unknown, @Res() reply: FastifyReply) {
    send(reply, await this.oip.infer(name, body));
  }

  @Post('models/:name/versions/:version/infer')
  @UseGuards(HopGuard)
  @HttpCode(200)
  @ApiOperation({ summary: 'inference by the variant named (no fallback, not recorded as a prediction of the strategy)' })
  @ApiBody(INFER_BODY)
  @ApiOkResponse({ description: 'an OIP inference_response' })
  @ApiOipErrors(400, 404, 409, 413, 415, 422, 429, 502, 503)
  async inferVersion(@Param('name') name: string, @Param('version') version: string, @Body() body: unknown, @Res() reply: FastifyReply) {
    send(reply, await this.oip.infer(name, body, version));
  }
}

/**
 * Sent as text of oipStringify, so 64-bit integers beyond 2^53 reach the client digit for
 * digit; with binary outputs, in the binary extension's framing (JSON, then their bytes).
 */
function send(reply: FastifyReply, answer: OipAnswer): void {
  void reply.status(200).header('x-request-id', answer.requestId);
  if (!answer.chunks.length) return void reply.header('content-type', 'application/json; charset=utf-8').send(oipStringify(answer.body));
  const { parts, headerLength } = binaryBody(answer.body, answer.chunks);
  void reply.header('content-type', 'application/octet-stream').header(BINARY_HEADER, headerLength).send(Buffer.concat(parts));
}
