import { Body, Controller, HttpCode, Param, Post, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse } from '@nestjs/swagger';
import { validateEvaluateBody } from '@switchyard/contracts';
import type { FastifyReply } from 'fastify';
import { EvaluateGuard } from '../auth/guards';
import { checkName, invalid, valueOrHttpError } from '../http-errors';
import { EvaluateService } from './evaluate.service';
import { ApiErrors } from '../openapi/openapi';

/** Seconds a caller refused while a scan runs is asked to wait: about a scan of a large window. */
const BUSY_RETRY_AFTER_SECONDS = 5;

@Controller('v1/deployments')
export class EvaluateController {
  constructor(private readonly evaluations: EvaluateService) {}

  /** Off-policy evaluation: what `policy` would have earned on the deployment's logged traffic. */
  @Post(':name/evaluate')
  @UseGuards(EvaluateGuard)
  @ApiBearerAuth()
  @HttpCode(200)
  @ApiOkResponse({ description: 'the estimate with its interval, effective sample size and diagnostics' })
  @ApiErrors(400, 401, 404, 422, 429)
  async evaluate(@Param('name') name: string, @Body() body: unknown, @Res({ passthrough: true }) reply: FastifyReply) {
    const deployment = checkName(name);
    const result = validateEvaluateBody(body);
    if (!result.ok) throw invalid('invalid evaluate request', result.problems);
    const outcome = await this.evaluations.evaluate(deployment, result.value);
    // 429 while this router scans for another caller: when to come back.
    if (!outcome.ok && outcome.error === 'busy') void reply.header('retry-after', String(BUSY_RETRY_AFTER_SECONDS));
    return valueOrHttpError(outcome);
  }
}
