import { Body, Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { envelope, FeedbackEvent, FeedbackInput, feedbackProblem, MAX_FEEDBACK_BATCH, validatePlain } from '@switchyard/contracts';
import { KafkaClient } from '@switchyard/messaging';
import { explicitRewardProblem } from '@switchyard/strategies';
import { DeploymentCache } from '../deployments/deployment.cache';
import { FeedbackGuard } from '../auth/guards';
import { invalid } from '../http-errors';
import { routerMetrics } from '../router.metrics';

/** Ground truth over HTTP: validated here, so nothing invalid ever reaches Kafka. */
@ApiTags('feedback')
@Controller('v1/feedback')
export class FeedbackController {
  constructor(
    private readonly kafka: KafkaClient,
    private readonly deployments: DeploymentCache,
  ) {}

  @Post()
  @UseGuards(FeedbackGuard)
  @HttpCode(202)
  @ApiOperation({ summary: `ground truth: one record or an array of up to ${MAX_FEEDBACK_BATCH}` })
  @ApiBody({
    schema: {
      oneOf: [
        { $ref: '#/components/schemas/FeedbackInput' },
        { type: 'array', maxItems: MAX_FEEDBACK_BATCH, items: { $ref: '#/components/schemas/FeedbackInput' } },
      ],
    },
  })
  async submit(@Body() body: unknown): Promise<{ accepted: number }> {
    const items = Array.isArray(body) ? body : [body];
    if (items.length === 0 || items.length > MAX_FEEDBACK_BATCH) {
      throw invalid('invalid feedback', [`send 1 to ${MAX_FEEDBACK_BATCH} feedback records per request, got ${items.length}`]);
    }
    const problems: string[] = [];
    const events = items.map((item, index) => {
      const at = (problem: string) => (Array.isArray(body) ? `[${index}].${problem}` : problem);
      const result = validatePlain(FeedbackInput, item);
      if (!result.ok) {
        problems.push(...result.problems.map(at));
        return undefined;
      }
      const problem = feedbackProblem(result.value);
      if (problem) problems.push(at(problem));
      const { requestId, deployment, label, reward } = result.value;
      // Only a deployment it names has a range to hold it to now; the joiner holds the others to theirs.
      const spec = deployment === undefined ? undefined : this.deployments.get(deployment)?.reward;
      const outside = spec?.type === 'explicit' && reward !== undefined ? explicitRewardProblem(spec, reward) : undefined;
      if (outside) problems.push(at(outside));
      return { ...envelope('feedback'), requestId, deployment, label, reward } as FeedbackEvent;
    });
    // All or nothing: a client retrying a partly bad batch must not duplicate the good part.
    if (problems.length) {
      routerMetrics.rejected.inc({ route: 'feedback' });
      throw invalid('invalid feedback', problems);
    }
    await this.kafka.publish(
      this.kafka.topics.feedback,
      events.map((event) => ({ key: event!.requestId, value: JSON.stringify(event) })),
    );
    return { accepted: events.length };
  }
}
