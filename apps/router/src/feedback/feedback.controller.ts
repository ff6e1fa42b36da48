import { Body, Controller, HttpCode, HttpException, HttpStatus, NotFoundException, Post, UseGuards } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { envelope, FeedbackEvent, FeedbackInput, feedbackProblem, MAX_FEEDBACK_BATCH, validatePlain } from '@switchyard/contracts';
import { KafkaClient } from '@switchyard/messaging';
import { explicitRewardProblem } from '@switchyard/strategies';
import { DeploymentRegistry, encodeStoredFeedback, JoinStateStore } from '@switchyard/store';
import { FeedbackGuard } from '../auth/guards';
import { DeploymentCache } from '../deployments/deployment.cache';
import { invalid } from '../http-errors';
import { routerMetrics } from '../router.metrics';
import { ApiErrors } from '../openapi/openapi';

/** Ground truth over HTTP: validated here, so nothing invalid ever reaches Kafka. */
@ApiTags('feedback')
@Controller('v1/feedback')
export class FeedbackController {
  constructor(
    private readonly kafka: KafkaClient,
    private readonly cache: DeploymentCache,
    private readonly registry: DeploymentRegistry,
    private readonly joinState: JoinStateStore,
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
  @ApiResponse({
    status: 202,
    description: 'on Kafka, to be joined with its prediction',
    schema: { type: 'object', required: ['accepted'], properties: { accepted: { type: 'integer', minimum: 1 } } },
  })
  @ApiErrors(400, 401, 404, 413, 415)
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
      const spec = deployment === undefined ? undefined : this.cache.get(deployment)?.reward;
      const outside = spec?.type === 'explicit' && reward !== undefined ? explicitRewardProblem(spec, reward) : undefined;
      if (outside) problems.push(at(outside));
      return { ...envelope('feedback'), requestId, deployment, label, reward } as FeedbackEvent;
    });
    // All or nothing: a client retrying a partly bad batch must not duplicate the good part.
    if (problems.length) {
      routerMetrics.rejected.inc({ route: 'feedback' });
      throw invalid('invalid feedback', problems);
    }
    await this.refuseUnknownDeployments(events.map((event) => event!.deployment));
    await this.refuseWhenFull(events as FeedbackEvent[]);
    await this.kafka.publish(
      this.kafka.topics.feedback,
      events.map((event) => ({ key: event!.requestId, value: JSON.stringify(event) })),
    );
    return { accepted: events.length };
  }

  /**
   * Feedback the joiner would refuse as pending past its limits (it names a request whose
   * prediction is not there, and the join state holds all it may of such): 429 with the
   * reason, so the sender hears of it rather than a DLQ record nobody reads.
   */
  private async refuseWhenFull(events: FeedbackEvent[]): Promise<void> {
    const refusals = await this.joinState.pendingFeedbackRefusals(
      events.map(({ requestId, deployment, label, reward, occurredAt }) => ({
        requestId,
        deployment,
        // What the joiner stores of it (feedbackRecord) and under which field.
        bytes: (deployment === undefined ? 1 : 2 + deployment.length) + encodeStoredFeedback({ feedbackAt: occurredAt!, label, reward }).length,
      })),
    );
    const problems = refusals.flatMap((reason, i) => (reason ? [`${events[i].requestId}: ${reason}`] : []));
    if (problems.length) {
      routerMetrics.rejected.inc({ route: 'feedback' });
      throw new HttpException(
        {
          statusCode: 429,
          error: 'Too Many Requests',
          message: `feedback refused: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`,
          problems,
        },
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
  }

  /**
   * A label for a deployment that does not exist would wait in the joiner until its window
   * closes. The cache answers at once; on a miss Redis does, so a deployment created a
   * moment ago, whose change this router has not heard of yet, is not refused.
   */
  private async refuseUnknownDeployments(names: (string | undefined)[]): Promise<void> {
    const unknown: string[] = [];
    for (const name of new Set(names)) {
      if (name !== undefined && !this.cache.get(name) && !(await this.registry.get(name))) unknown.push(name);
    }
    if (unknown.length) {
      routerMetrics.rejected.inc({ route: 'feedback' });
      throw new NotFoundException(`feedback names deployments that do not exist: ${unknown.map((name) => `"${name}"`).join(', ')}`);
    }
  }
}
