import { Body, Controller, ForbiddenException, HttpCode, HttpException, HttpStatus, NotFoundException, Post, UseGuards } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import {
  DeploymentSpec,
  envelope,
  FeedbackEvent,
  FeedbackInput,
  feedbackProblem,
  MAX_FEEDBACK_BATCH,
  validatePlain,
  verifyFeedbackToken,
} from '@switchyard/contracts';
import { KafkaClient } from '@switchyard/messaging';
import { explicitRewardProblem } from '@switchyard/strategies';
import { DeploymentRegistry, encodeStoredFeedback, JoinStateStore } from '@switchyard/store';
import { FeedbackGuard } from '../auth/guards';
import { RouterEnv } from '../router.env';
import { DeploymentCache } from '../deployments/deployment.cache';
import { invalid } from '../http-errors';
import { routerMetrics } from '../router.metrics';
import { ApiErrors } from '../openapi/openapi';

/** Ground truth over HTTP: validated here, so nothing invalid ever reaches Kafka. */
@ApiTags('feedback')
@Controller('v1/feedback')
export class FeedbackController {
  private readonly tokenSecret: string | undefined;

  constructor(
    private readonly kafka: KafkaClient,
    private readonly cache: DeploymentCache,
    private readonly registry: DeploymentRegistry,
    private readonly joinState: JoinStateStore,
    env: RouterEnv,
  ) {
    this.tokenSecret = env.FEEDBACK_TOKEN_SECRET;
  }

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
  @ApiErrors(400, 401, 403, 404, 413, 415)
  async submit(@Body() body: unknown): Promise<{ accepted: number }> {
    const items = Array.isArray(body) ? body : [body];
    if (items.length === 0 || items.length > MAX_FEEDBACK_BATCH) {
      throw invalid('invalid feedback', [`send 1 to ${MAX_FEEDBACK_BATCH} feedback records per request, got ${items.length}`]);
    }
    const problems: string[] = [];
    const tokens: (string | undefined)[] = [];
    const events = items.map((item, index) => {
      const at = (problem: string) => (Array.isArray(body) ? `[${index}].${problem}` : problem);
      const result = validatePlain(FeedbackInput, item);
      if (!result.ok) {
        problems.push(...result.problems.map(at));
        return undefined;
      }
      const problem = feedbackProblem(result.value);
      if (problem) problems.push(at(problem));
      const { requestId, deployment, label, reward, feedbackToken } = result.value;
      tokens[index] = feedbackToken;
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
    const specs = await this.specsNamed(events.map((event) => event!.deployment));
    this.refuseUntokened(events as FeedbackEvent[], tokens, specs, Array.isArray(body));
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
   * The specs of the deployments the feedback names, refusing (404) any that does not exist:
   * its label would wait in the joiner until its window closes. The cache answers at once; on
   * a miss Redis does, so a deployment created a moment ago, whose change this router has not
   * heard of yet, is not refused.
   */
  private async specsNamed(names: (string | undefined)[]): Promise<Map<string, DeploymentSpec>> {
    const specs = new Map<string, DeploymentSpec>();
    const unknown: string[] = [];
    for (const name of new Set(names)) {
      if (name === undefined) continue;
      const spec = this.cache.get(name) ?? (await this.registry.get(name));
      if (spec) specs.set(name, spec);
      else unknown.push(name);
    }
    if (unknown.length) {
      routerMetrics.rejected.inc({ route: 'feedback' });
      throw new NotFoundException(`feedback names deployments that do not exist: ${unknown.map((name) => `"${name}"`).join(', ')}`);
    }
    return specs;
  }

  /**
   * Only the holder of a prediction labels it when its deployment requires feedback tokens
   * (403, the batch whole). Feedback naming no deployment joins every deployment's prediction
   * of its request id, so it is refused too while any deployment of this router requires tokens.
   */
  private refuseUntokened(events: FeedbackEvent[], tokens: (string | undefined)[], specs: Map<string, DeploymentSpec>, batch: boolean): void {
    const guarded = this.cache.all().filter((spec) => spec.feedback?.requireToken);
    const problems = events.flatMap(({ requestId, deployment }, i) => {
      const at = (problem: string) => [batch ? `[${i}]: ${problem}` : problem];
      if (deployment === undefined) {
        return guarded.length
          ? at(
              `deployment is required: ${guarded.map((spec) => `"${spec.name}"`).join(', ')} require feedback tokens, and feedback naming no deployment would label theirs too`,
            )
          : [];
      }
      if (!specs.get(deployment)!.feedback?.requireToken) return [];
      if (!this.tokenSecret) return at(`deployment "${deployment}" requires feedback tokens and this router has no FEEDBACK_TOKEN_SECRET to check them with`);
      const check = verifyFeedbackToken(this.tokenSecret, tokens[i], requestId, deployment);
      return check.ok ? [] : at(check.reason);
    });
    if (problems.length) {
      routerMetrics.rejected.inc({ route: 'feedback' });
      throw new ForbiddenException({ statusCode: 403, error: 'Forbidden', message: `feedback refused: ${problems[0]}`, problems });
    }
  }
}
