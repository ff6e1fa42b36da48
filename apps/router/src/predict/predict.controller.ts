import { Body, Controller, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { InferRequest, InferResponse, PredictBody, validatePlain } from '@switchyard/contracts';
import { checkName, invalid, valueOrHttpError } from '../http-errors';
import { routerMetrics } from '../router.metrics';
import { HopGuard } from './hop.guard';
import { PredictService } from './predict.service';

@ApiTags('predictions')
@Controller()
@UseGuards(HopGuard)
export class PredictController {
  constructor(private readonly predictions: PredictService) {}

  @Post('v1/deployments/:name/predict')
  @HttpCode(200)
  @ApiOperation({ summary: 'a prediction from the variant the strategy chooses' })
  @ApiBody({ schema: { $ref: '#/components/schemas/PredictBody' } })
  async predict(@Param('name') name: string, @Body() body: unknown) {
    const result = validatePlain(PredictBody, body);
    if (!result.ok) {
      routerMetrics.rejected.inc({ route: 'predict' });
      throw invalid('invalid predict request', result.problems);
    }
    return valueOrHttpError(await this.predictions.predict(checkName(name), result.value));
  }

  /** Open Inference Protocol ingress: existing OIP clients point at Switchyard unchanged. */
  @Post('v2/models/:name/infer')
  @HttpCode(200)
  @ApiOperation({ summary: 'Open Inference Protocol ingress; model_version is the serving variant' })
  @ApiBody({ schema: { $ref: '#/components/schemas/InferRequest' } })
  async infer(@Param('name') name: string, @Body() body: unknown): Promise<InferResponse> {
    const result = validatePlain(InferRequest, body);
    if (!result.ok) {
      routerMetrics.rejected.inc({ route: 'infer' });
      throw invalid('invalid inference request', result.problems);
    }
    const { id, inputs, parameters, outputs } = result.value;
    const answer = valueOrHttpError(
      await this.predictions.predict(checkName(name), {
        inputs,
        requestId: id,
        unitKey: typeof parameters?.unitKey === 'string' ? parameters.unitKey : undefined,
        extras: { ...(parameters && { parameters }), ...(outputs && { outputs }) },
      }),
    );
    return {
      model_name: name,
      model_version: answer.variant,
      id: answer.requestId,
      outputs: answer.outputs as InferResponse['outputs'],
    };
  }
}
