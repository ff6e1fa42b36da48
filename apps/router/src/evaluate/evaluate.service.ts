import { Injectable, Logger } from '@nestjs/common';
import { EvaluateBody, EvaluateResponse, OFF_POLICY_ESTIMATORS, parseJsonBytes, Role, ROLES } from '@switchyard/contracts';
import { KafkaClient, readTopicRange } from '@switchyard/messaging';
import { DeploymentRegistry } from '@switchyard/store';
import {
  evaluateOffPolicy,
  evaluationRefusals,
  exclusionOf,
  fixedPolicy,
  LoggedSample,
  meanImportanceWeight,
  targetProbabilities,
  zOfLevel,
} from '@switchyard/strategies';
import { deploymentNotFound, Failure, Outcome, success } from '../outcome';

/** Scans one router process runs at once: each reads the whole window of the joined topic. */
const MAX_CONCURRENT_SCANS = 1;

/**
 * Off-policy evaluation of a policy on a deployment's logged traffic: reads the joined
 * topic (read committed) between two instants, keeps the deployment's served events,
 * and hands them to the pure estimators in libs/strategies.
 */
@Injectable()
export class EvaluateService {
  private readonly logger = new Logger(EvaluateService.name);
  private running = 0;

  constructor(
    private readonly registry: DeploymentRegistry,
    private readonly kafka: KafkaClient,
  ) {}

  async evaluate(name: string, body: EvaluateBody): Promise<Outcome<EvaluateResponse>> {
    if (!(await this.registry.get(name))) return deploymentNotFound(name); // before any scan
    if (this.running >= MAX_CONCURRENT_SCANS) return BUSY;
    this.running++;
    try {
      return await this.scanAndEstimate(name, body);
    } finally {
      this.running--;
    }
  }

  private async scanAndEstimate(name: string, body: EvaluateBody): Promise<Outcome<EvaluateResponse>> {
    const target = targetProbabilities(body.policy);
    const samples: LoggedSample[] = [];
    /** The logging policy's choices that another variant answered for: no sample, but a decision for the self-check. */
    const fallbackChoices: Pick<LoggedSample, 'variant' | 'probability'>[] = [];
    const excluded: Record<string, number> = {};
    let scanned = 0;
    const sinceMs = body.since === undefined ? undefined : Date.parse(body.since);
    const untilMs = body.until === undefined ? undefined : Date.parse(body.until);
    const scan = await readTopicRange(this.kafka, {
      topic: this.kafka.topics.joined,
      sinceMs,
      untilMs,
      groupPrefix: `${this.kafka.clientId}-evaluate`,
      onMessages: (messages) => {
        for (const message of messages) {
          scanned++;
          const event = parseJoined(message.value);
          // The topic holds every deployment's events; only this one's count, and nothing is excluded on their account.
          if (!event || event.deployment !== name) continue;
          const cause = exclusionOf(event);
          if (cause) excluded[cause] = (excluded[cause] ?? 0) + 1;
          if (cause === 'fallback' && event.probability > 0) fallbackChoices.push({ variant: event.fallbackFrom!, probability: event.probability });
          if (!cause)
            samples.push({
              variant: event.variant,
              probability: event.probability,
              reward: event.reward,
              ...(typeof event.unitKey === 'string' && { unit: event.unitKey }),
            });
        }
      },
    });
    this.logger.log({ deployment: name, scanned, used: samples.length, ms: scan.ms, ranges: scan.ranges, sinceMs, untilMs }, 'evaluation scan');

    const refusals = evaluationRefusals(samples, target);
    if (refusals.length) {
      return { ok: false, error: 'cannot-evaluate', message: `cannot evaluate this policy: ${refusals.join('; ')}`, reasons: refusals, n: samples.length };
    }
    const level = body.level ?? 0.95;
    const z = zOfLevel(level);
    // Joined events carry no context yet: the reward model of DM, DR and SNDR is then each variant's (ridge) mean.
    const { estimates } = evaluateOffPolicy(
      samples.map((s) => ({ ...s, x: NO_CONTEXT })),
      fixedPolicy(target),
      { z },
    );
    const estimators = Object.fromEntries(
      OFF_POLICY_ESTIMATORS.map((method) => {
        const { estimate, low, high, ess } = estimates[method];
        return [method, { estimate, low, high, ess }];
      }),
    ) as EvaluateResponse['estimators'];
    return success({
      deployment: name,
      ...estimates.snips, // SNIPS is the top-level answer
      estimators,
      meanWeight: meanImportanceWeight([...samples, ...fallbackChoices], target),
      level,
      excluded,
      target,
      ...(body.since !== undefined && { since: body.since }),
      ...(body.until !== undefined && { until: body.until }),
      scanned,
      scanMs: scan.ms,
    });
  }
}

/** The context of an event that logged none: the intercept alone. */
const NO_CONTEXT: readonly number[] = [1];

const BUSY: Failure = { ok: false, error: 'busy', message: 'an evaluation is already running on this router; retry later' };

interface JoinedFields {
  deployment: string;
  variant: string;
  role: Role;
  probability: number;
  reward: number;
  fallbackFrom?: string;
  /** What the intervals cluster by (a unit's samples are correlated); one that is not a string is left out: a unit of its own. */
  unitKey?: string;
}

/**
 * The few fields the estimators need, checked by hand: class-validator on every event
 * of a million-event scan would cost more than the scan. An event that is not JSON (read
 * as every consumer reads it: bounded, finite numbers) or lacks them is skipped (the
 * bandit updater sends such messages to the DLQ).
 */
function parseJoined(value: Buffer | null): JoinedFields | undefined {
  if (!value) return undefined;
  const parsed = parseJsonBytes(value);
  if (!parsed.ok) return undefined;
  const event = parsed.value as (Partial<JoinedFields> & { type?: unknown }) | null;
  if (event === null || typeof event !== 'object' || event.type !== 'joined') return undefined;
  if (typeof event.deployment !== 'string' || typeof event.variant !== 'string' || !ROLES.includes(event.role as Role)) return undefined;
  if (typeof event.probability !== 'number' || typeof event.reward !== 'number') return undefined;
  if (event.fallbackFrom !== undefined && typeof event.fallbackFrom !== 'string') return undefined;
  return event as JoinedFields;
}
