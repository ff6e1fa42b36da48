import { Body, Controller, ForbiddenException, HttpCode, NotFoundException, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBody, ApiForbiddenResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { FLAGGER_HOOKS, FlaggerHook, FlaggerWebhookPayload, validatePlain } from '@switchyard/contracts';
import { flaggerAnswer, Verdict } from '@switchyard/strategies';
import { FlaggerReadGuard } from '../auth/guards';
import { checkName, invalid } from '../http-errors';
import { VerdictService } from './verdict.service';
import { ApiErrors } from '../openapi/openapi';

const isHook = (hook: string): hook is FlaggerHook => (FLAGGER_HOOKS as readonly string[]).includes(hook);

/**
 * Flagger's webhooks (deploy/k8s/flagger/canary.yaml), answered by the verdict alone
 * (`flaggerAnswer`): 200 to go, 403 to hold. Flagger takes 200-202 as success and
 * anything else as not (fluxcd/flagger pkg/controller/webhook.go); for the gates that
 * holds the canary where it is, for the rollback hook it means "do not roll back"
 * (docs.flagger.app/usage/webhooks, pkg/controller/scheduler_hooks.go). Flagger logs the
 * body of a refusal in its events, so a 403 says why.
 */
@ApiTags('flagger')
@Controller('v1/flagger')
export class FlaggerController {
  constructor(private readonly verdicts: VerdictService) {}

  @Post(':name/:hook')
  @UseGuards(FlaggerReadGuard)
  @HttpCode(200)
  @ApiOperation({ summary: `Flagger webhook (${FLAGGER_HOOKS.join(', ')}): 200 to go, 403 to hold; the read key in metadata.token` })
  @ApiBody({ schema: { $ref: '#/components/schemas/FlaggerWebhookPayload' } })
  @ApiOkResponse({ description: 'the verdict says go: the body carries it' })
  @ApiErrors(400, 401, 404)
  @ApiForbiddenResponse({ description: 'the verdict says not to: the body carries it' })
  async hook(@Param('name') name: string, @Param('hook') hook: string, @Body() body: unknown): Promise<{ hook: FlaggerHook; verdict: Verdict }> {
    const deployment = checkName(name);
    if (!isHook(hook)) throw new NotFoundException(`no Flagger hook "${hook}": use ${FLAGGER_HOOKS.join(', ')}`);
    const payload = validatePlain(FlaggerWebhookPayload, body);
    if (!payload.ok) throw invalid('invalid Flagger webhook payload', payload.problems);
    const verdict = await this.verdicts.verdict(deployment);
    if (!flaggerAnswer(hook, verdict)) {
      throw new ForbiddenException({ statusCode: 403, error: 'Forbidden', message: `${hook}: ${verdict.decision}: ${verdict.reason}`, hook, verdict });
    }
    return { hook, verdict };
  }
}
