import { Controller, Get, Param, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Verdict, VERDICT_DECISIONS } from '@switchyard/strategies';
import { ReadGuard } from '../auth/guards';
import { checkName } from '../http-errors';
import { VerdictService } from './verdict.service';
import { ApiErrors } from '../openapi/openapi';

/** For Argo Rollouts' `web` metric provider (deploy/k8s/argo-rollouts/analysis-template.yaml). */
@ApiTags('deployments')
@Controller('v1/deployments')
export class VerdictController {
  constructor(private readonly verdicts: VerdictService) {}

  @Get(':name/verdict')
  @UseGuards(ReadGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: "the rollout controller's judgement: continue, promote, rollback or pause, with its reason, plan step and evidence" })
  @ApiOkResponse({
    schema: {
      type: 'object',
      required: ['decision', 'reason', 'step', 'evidence'],
      properties: {
        decision: { enum: [...VERDICT_DECISIONS] },
        reason: { type: 'string' },
        step: { type: 'integer', nullable: true, description: "a plan's current step, 1-based" },
        evidence: { type: 'object', nullable: true, description: 'what the rollout controller judged on' },
      },
    },
  })
  @ApiErrors(400, 401, 404)
  verdict(@Param('name') name: string): Promise<Verdict> {
    return this.verdicts.verdict(checkName(name));
  }
}
