import { Body, Controller, Delete, Get, HttpCode, NotFoundException, Param, Post, Put, UseGuards } from '@nestjs/common';
import { PromoteBody, validatePlain } from '@switchyard/contracts';
import { checkName, invalid } from '../http-errors';
import { AdminGuard } from '../auth/guards';
import { DeploymentsService } from './deployments.service';

@Controller('v1/deployments')
export class DeploymentsController {
  constructor(private readonly deployments: DeploymentsService) {}

  @Get()
  async list() {
    return { deployments: await this.deployments.list() };
  }

  @Get(':name')
  get(@Param('name') name: string) {
    return this.deployments.getWithReport(checkName(name));
  }

  @Put(':name')
  @UseGuards(AdminGuard)
  put(@Param('name') name: string, @Body() body: unknown) {
    return this.deployments.put(checkName(name), body);
  }

  @Delete(':name')
  @UseGuards(AdminGuard)
  @HttpCode(204)
  async remove(@Param('name') name: string): Promise<void> {
    await this.deployments.remove(checkName(name));
  }

  @Post(':name/promote')
  @UseGuards(AdminGuard)
  @HttpCode(200)
  promote(@Param('name') name: string, @Body() body: unknown) {
    const result = validatePlain(PromoteBody, body);
    if (!result.ok) throw invalid('invalid promote request', result.problems);
    return this.deployments.promote(checkName(name), result.value.variant);
  }

  @Post(':name/plan/:action')
  @UseGuards(AdminGuard)
  @HttpCode(200)
  plan(@Param('name') name: string, @Param('action') action: string) {
    if (action !== 'pause' && action !== 'resume' && action !== 'abort') throw new NotFoundException(`no plan action "${action}": use pause, resume or abort`);
    return this.deployments.planAction(checkName(name), action);
  }

  @Post(':name/rollback')
  @UseGuards(AdminGuard)
  @HttpCode(200)
  rollback(@Param('name') name: string) {
    return this.deployments.rollback(checkName(name));
  }
}
