import { Body, Controller, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse } from '@nestjs/swagger';
import { validateEvaluateBody } from '@switchyard/contracts';
import { EvaluateGuard } from '../auth/guards';
import { checkName, invalid, valueOrHttpError } from '../http-errors';
import { EvaluateService } from './evaluate.service';
import { ApiErrors } from '../openapi/openapi';

@Controller('v1/deployments')
export class EvaluateController {
  constructor(private readonly evaluations: EvaluateService) {}

  /** Off-policy evaluation: what `policy` would have earned on the deployment's logged traffic. */
  @Post(':name/evaluate')
  @UseGuards(EvaluateGuard)
  @ApiBearerAuth()
  @HttpCode(200)
  @ApiOkResponse({ description: 'the estimate with its interval, effective sample size and diagnostics' })
  @ApiErrors(400, 401, 404, 422)
  async evaluate(@Param('name') name: string, @Body() body: unknown) {
    const deployment = checkName(name);
    const result = validateEvaluateBody(body);
    if (!result.ok) throw invalid('invalid evaluate request', result.problems);
    return valueOrHttpError(await this.evaluations.evaluate(deployment, result.value));
  }
}
