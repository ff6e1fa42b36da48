import { Body, Controller, Delete, Get, HttpCode, NotFoundException, Param, Post, Put, Query, UseGuards, UseInterceptors } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { appliedSpec } from '@switchyard/strategies';
import { PromoteBody, validatePlain } from '@switchyard/contracts';
import { checkName, invalid } from '../http-errors';
import { AdminGuard, ReadGuard } from '../auth/guards';
import { DeploymentsService } from './deployments.service';
import { MaskedUrls } from './masked-urls.interceptor';
import { HistoryService } from '../history/history.service';
import { ApiErrors } from '../openapi/openapi';

const ref = (name: string) => ({ schema: { $ref: `#/components/schemas/${name}` } });

@ApiTags('deployments')
@Controller('v1/deployments')
@UseInterceptors(MaskedUrls)
export class DeploymentsController {
  constructor(
    private readonly deployments: DeploymentsService,
    private readonly histories: HistoryService,
  ) {}

  @Get()
  @UseGuards(ReadGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'every deployment spec' })
  @ApiOkResponse({ description: '{deployments: [spec with its health]}' })
  @ApiErrors(401)
  async list() {
    return { deployments: await this.deployments.list() };
  }

  @Get(':name')
  @UseGuards(ReadGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'a spec with its report per variant and role, and its guardrails or plan block' })
  @ApiOkResponse({ description: 'the spec, report, served split and the guardrails or plan block' })
  @ApiErrors(400, 401, 404)
  get(@Param('name') name: string) {
    return this.deployments.getWithReport(checkName(name));
  }

  /** Split, reward and decision series from `deployment-events` (see HistoryService). */
  @Get(':name/history')
  @UseGuards(ReadGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'split, reward and decision series read from the deployment-events topic' })
  @ApiOkResponse({ description: 'the series' })
  @ApiErrors(400, 401, 404)
  history(@Param('name') name: string) {
    return this.histories.history(checkName(name));
  }

  /** The spec as a PUT body takes it: `switchyard get -o yaml` prints it, and `deploy` of it changes nothing. */
  @Get(':name/spec')
  @ApiOperation({ summary: 'the spec in force as a PUT body (no name, version, updatedAt or status): applying it again changes nothing' })
  @ApiOkResponse({ description: 'the spec as a PUT body' })
  @ApiErrors(400, 404)
  async spec(@Param('name') name: string) {
    return appliedSpec(await this.deployments.get(checkName(name)));
  }

  @Put(':name')
  @UseGuards(AdminGuard)
  @ApiBearerAuth()
  @ApiOperation({
    summary:
      'create or replace a deployment: a new version, unless the spec equals the one in force (result "unchanged") or one a rollback or abort ended (result "held", until a retry); with dryRun=true, checked and compared, nothing written',
  })
  @ApiBody({ ...ref('DeploymentSpecInput'), description: 'deployment spec' })
  @ApiOkResponse({ description: 'the spec in force with `result` (written, unchanged, held); a dry run: what a PUT would do' })
  @ApiErrors(400, 401, 409, 413, 415, 422)
  @ApiQuery({ name: 'dryRun', required: false, type: Boolean, description: 'validate and say what a PUT would do, writing nothing' })
  @ApiQuery({ name: 'force', required: false, type: Boolean, description: "apply the spec without asking each variant's model whether it is ready" })
  put(@Param('name') name: string, @Body() body: unknown, @Query('dryRun') dryRun?: string, @Query('force') force?: string) {
    const [dry, forced] = [flag('dryRun', dryRun), flag('force', force)];
    return dry ? this.deployments.dryRun(checkName(name), body, forced) : this.deployments.put(checkName(name), body, forced);
  }

  @Delete(':name')
  @UseGuards(AdminGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'delete a deployment with its report, statistics and rollout state' })
  @ApiNoContentResponse({ description: 'deleted' })
  @ApiErrors(400, 401, 404)
  @HttpCode(204)
  async remove(@Param('name') name: string): Promise<void> {
    await this.deployments.remove(checkName(name));
  }

  @Post(':name/promote')
  @UseGuards(AdminGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'make the deployment single on a variant' })
  @ApiOkResponse({ description: 'the spec in force after the change' })
  @ApiErrors(400, 401, 404, 409)
  @ApiBody(ref('PromoteBody'))
  @HttpCode(200)
  promote(@Param('name') name: string, @Body() body: unknown) {
    const result = validatePlain(PromoteBody, body);
    if (!result.ok) throw invalid('invalid promote request', result.problems);
    return this.deployments.promote(checkName(name), result.value.variant);
  }

  @Post(':name/plan/:action')
  @UseGuards(AdminGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'pause, resume or abort a plan' })
  @ApiOkResponse({ description: 'the spec in force after the change' })
  @ApiErrors(400, 401, 404, 409)
  @HttpCode(200)
  plan(@Param('name') name: string, @Param('action') action: string) {
    if (action !== 'pause' && action !== 'resume' && action !== 'abort') throw new NotFoundException(`no plan action "${action}": use pause, resume or abort`);
    return this.deployments.planAction(checkName(name), action);
  }

  @Post(':name/retry')
  @UseGuards(AdminGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'write the spec a rollback or abort ended (held) again, as a new version: its comparison starts afresh' })
  @ApiOkResponse({ description: 'the spec in force after the change' })
  @ApiErrors(400, 401, 404, 409)
  @HttpCode(200)
  retry(@Param('name') name: string) {
    return this.deployments.retry(checkName(name));
  }

  @Post(':name/rollback')
  @UseGuards(AdminGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'restore the spec in force before the current one, as a new version' })
  @ApiOkResponse({ description: 'the spec in force after the change' })
  @ApiErrors(400, 401, 404, 409)
  @HttpCode(200)
  rollback(@Param('name') name: string) {
    return this.deployments.rollback(checkName(name));
  }
}

/** A boolean query parameter: absent is false. */
function flag(name: string, value: string | undefined): boolean {
  if (value !== undefined && value !== 'true' && value !== 'false') throw invalid('invalid query', [`${name} must be true or false, got "${value}"`]);
  return value === 'true';
}
