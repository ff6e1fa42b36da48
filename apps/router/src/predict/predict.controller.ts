import { Body, Controller, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { PredictBody, validatePlain } from '@switchyard/contracts';
import { checkName, invalid, valueOrHttpError } from '../http-errors';
import { routerMetrics } from '../router.metrics';
import { HopGuard } from './hop.guard';
import { PredictService } from './predict.service';
import { ApiErrors } from '../openapi/openapi';

@ApiTags('predictions')
@Controller()
@UseGuards(HopGuard)
export class PredictController {
  constructor(private readonly predictions: PredictService) {}

  @Post('v1/deployments/:name/predict')
  @HttpCode(200)
  @ApiOperation({ summary: 'a prediction from the variant the strategy chooses' })
  @ApiBody({ schema: { $ref: '#/components/schemas/PredictBody' } })
  @ApiOkResponse({
    description: 'the answer of the variant that served it',
    schema: {
      type: 'object',
      required: ['requestId', 'deployment', 'variant', 'outputs'],
      properties: {
        requestId: { type: 'string' },
        deployment: { type: 'string' },
        variant: { type: 'string' },
        outputs: { description: "the model's outputs: OIP output tensors, or a json variant's answer" },
        feedbackToken: { type: 'string', description: 'deployments with feedback.requireToken: what feedback for this prediction must present' },
      },
    },
  })
  @ApiErrors(400, 404, 409, 413, 415, 422, 429, 502, 503)
  async predict(@Param('name') name: string, @Body() body: unknown) {
    const result = validatePlain(PredictBody, body);
    if (!result.ok) {
      routerMetrics.rejected.inc({ route: 'predict' });
      throw invalid('invalid predict request', result.problems);
    }
    return valueOrHttpError(await this.predictions.predict(checkName(name), result.value));
  }
}
