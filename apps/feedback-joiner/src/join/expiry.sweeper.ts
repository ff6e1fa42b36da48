import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { PeriodicTask } from '@switchyard/runtime';
import { countFeedbackOutcome, FeedbackOutcomeCounts, JoinStateStore, ReportStore } from '@switchyard/store';
import { expiredOutcome, FEEDBACK_OUTCOME_FIELDS } from '@switchyard/strategies';
import { FeedbackJoinerEnv } from '../feedback-joiner.env';
import { joinMetrics } from './join.metrics';

/** Requests claimed per bucket and Redis call, so one sweep never blocks Redis for long. */
const SWEEP_LIMIT = 500;

/**
 * Counts join state whose window has closed — feedback that met no prediction it applies
 * to, predictions that got no feedback — and removes it, bucket by bucket. Every joiner
 * sweeps; the claim is atomic in each bucket, so each request is counted by exactly one
 * of them.
 */
@Injectable()
export class ExpirySweeper implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ExpirySweeper.name);
  private readonly periodic: PeriodicTask;

  constructor(
    private readonly state: JoinStateStore,
    private readonly reports: ReportStore,
    private readonly env: FeedbackJoinerEnv,
  ) {
    this.periodic = new PeriodicTask(() => this.sweep(), env.JOIN_SWEEP_INTERVAL_MS);
  }

  onModuleInit(): void {
    this.periodic.start();
  }

  onModuleDestroy(): Promise<void> {
    return this.periodic.stop();
  }

  async sweep(): Promise<void> {
    try {
      for (;;) {
        const { expired, more } = await this.state.sweep(Date.now() - this.env.JOIN_WINDOW_SECONDS * 1000, SWEEP_LIMIT);
        // Feedback naming a deployment that never joined is shown in its status; feedback naming none, only in the metric.
        const unmatched = new Map<string, FeedbackOutcomeCounts>();
        for (const request of expired) {
          const outcome = expiredOutcome(request);
          if (outcome.feedbackUnmatched.length) joinMetrics.feedbackUnmatched.inc(outcome.feedbackUnmatched.length);
          for (const scope of outcome.feedbackUnmatched) if (scope !== undefined) countFeedbackOutcome(unmatched, scope, FEEDBACK_OUTCOME_FIELDS.unmatched);
          for (const p of outcome.unlabelled) joinMetrics.predictionsUnlabelled.inc({ deployment: p.deployment, variant: p.variant, role: p.role });
        }
        await this.reports.addFeedbackOutcomes(unmatched);
        if (expired.length) this.logger.debug({ count: expired.length }, 'swept expired join state');
        if (!more) return;
      }
    } catch (error) {
      this.logger.warn({ error: (error as Error).message }, 'could not sweep expired join state; will retry');
    }
  }
}
