import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import {
  DeploymentSpec,
  EvaluateBody,
  EvaluateResponse,
  isContextual,
  MAX_CONTEXT_DIMENSION,
  OFF_POLICY_ESTIMATORS,
  parseJsonBytes,
  Role,
  ROLES,
} from '@switchyard/contracts';
import { KafkaClient, kafkaConnectionConfig, KafkaConnection, PartitionRange, readTopicRange, ScanTooLarge } from '@switchyard/messaging';
import { BanditWeightsStore, DeploymentRegistry } from '@switchyard/store';
import {
  ContextualTarget,
  evaluateOffPolicy,
  exclusionOf,
  fixedPolicy,
  LoggedSample,
  meanImportanceWeight,
  resolveContextualTarget,
  targetProbabilities,
  withLoggedContexts,
} from '@switchyard/strategies';
import { deploymentNotFound, Failure, Outcome, success } from '../outcome';
import { RouterEnv } from '../router.env';

/** Scans one router process runs at once: each reads the whole window of the joined topic. */
const MAX_CONCURRENT_SCANS = 1;

/** What a scan in its worker thread is given: plain data, as a worker takes it. */
export interface EvaluationJob {
  /** The router's Kafka settings: the worker opens a connection of its own. */
  connection: ReturnType<typeof kafkaConnectionConfig>;
  topic: string;
  groupPrefix: string;
  deployment: string;
  body: EvaluateBody;
  maxRecords: number;
  maxBytes: number;
  /** A contextual policy (`policy.type` contextual) as plain data: its models, or the deployment's current ones read by the router. */
  contextual?: ContextualTarget;
}

/** A scan's answer, and what the router logs of it. */
export interface EvaluationResult {
  outcome: Outcome<EvaluateResponse>;
  log: { scanned: number; used: number; ms: number; ranges: PartitionRange[] };
}

/**
 * The compiled worker: beside this file once built; from the sources (jest runs the
 * TypeScript), the build's copy in dist/.
 */
const WORKER = existsSync(join(__dirname, 'evaluate.worker.js'))
  ? join(__dirname, 'evaluate.worker.js')
  : join(resolve(__dirname, '..', '..', '..', '..', 'dist'), relative(resolve(__dirname, '..', '..', '..', '..'), __dirname), 'evaluate.worker.js');

/**
 * Off-policy evaluation of a policy on a deployment's logged traffic: reads the joined
 * topic (read committed) between two instants, keeps the deployment's served events,
 * and hands them to the pure estimators in libs/strategies. The scan runs in a worker
 * thread with a Kafka connection of its own (`evaluate.worker.ts`): parsing millions of
 * events on the router's event loop once held predictions for 300 ms. It is bounded
 * (EVALUATE_MAX_RECORDS, EVALUATE_MAX_BYTES), and one runs at a time per router.
 */
@Injectable()
export class EvaluateService implements OnModuleDestroy {
  private readonly logger = new Logger(EvaluateService.name);
  private running = 0;
  private readonly workers = new Set<Worker>();

  constructor(
    private readonly registry: DeploymentRegistry,
    private readonly weights: BanditWeightsStore,
    private readonly kafka: KafkaClient,
    private readonly env: RouterEnv,
  ) {}

  async evaluate(name: string, body: EvaluateBody): Promise<Outcome<EvaluateResponse>> {
    const spec = await this.registry.get(name);
    if (!spec) return deploymentNotFound(name); // before any scan
    if (this.running >= MAX_CONCURRENT_SCANS) return BUSY;
    let contextual: ContextualTarget | undefined;
    if (body.policy.type === 'contextual') {
      const found = body.policy.models ? { models: body.policy.models, gamma: body.policy.gamma } : await this.currentModels(spec);
      if (typeof found === 'string') return cannotEvaluate([found], 0);
      contextual = found;
    }
    this.running++;
    try {
      const { outcome, log } = await this.run({
        connection: kafkaConnectionConfig(this.env, `${this.kafka.clientId}-evaluate`),
        topic: this.kafka.topics.joined,
        groupPrefix: `${this.kafka.clientId}-evaluate`,
        deployment: name,
        body,
        maxRecords: this.env.EVALUATE_MAX_RECORDS,
        maxBytes: this.env.EVALUATE_MAX_BYTES,
        ...(contextual && { contextual }),
      });
      this.logger.log({ deployment: name, ...log, since: body.since, until: body.until }, 'evaluation scan');
      return outcome;
    } finally {
      this.running--;
    }
  }

  /** A contextual bandit's models as its routers draw with them now, with its algorithm and settings; else why not. */
  private async currentModels(spec: DeploymentSpec): Promise<ContextualTarget | string> {
    const { strategy } = spec;
    if (strategy.type !== 'bandit' || !isContextual(strategy.algorithm)) {
      return `deployment "${spec.name}" is not a contextual bandit: give the policy's models (policy.models)`;
    }
    const fitted = (await this.weights.readMany([spec.name])).get(spec.name)?.policy;
    if (fitted === undefined) return `deployment "${spec.name}" has no fitted models yet: its bandit updater has not stored any`;
    return { algorithm: strategy.algorithm, fitted, exploration: strategy.exploration, gamma: strategy.gamma, minShare: strategy.minShare };
  }

  /** Runs the scan in a worker thread; its answer, or its failure thrown here. */
  protected run(job: EvaluationJob): Promise<EvaluationResult> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(WORKER, { workerData: job });
      this.workers.add(worker);
      worker.once('message', (reply: { result: EvaluationResult } | { error: string }) =>
        'result' in reply ? resolve(reply.result) : reject(new Error(`the evaluation failed: ${reply.error}`)),
      );
      worker.once('error', reject);
      worker.once('exit', (code) => {
        this.workers.delete(worker);
        reject(new Error(`the evaluation's worker exited with code ${code}`)); // no-op once it answered
      });
    });
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.all([...this.workers].map((worker) => worker.terminate()));
  }
}

/**
 * The scan and the estimate, as the worker runs them on `kafka` (its own connection). A
 * window past the scan's bounds cannot be evaluated whole: the answer says to narrow it.
 */
export async function scanAndEstimate(kafka: KafkaConnection, job: EvaluationJob): Promise<EvaluationResult> {
  const { deployment: name, body } = job;
  const contextual = job.contextual && resolveContextualTarget(job.contextual);
  if (job.contextual && !contextual) {
    const reason = `the deployment's stored models are not readable`;
    return { outcome: cannotEvaluate([reason], 0), log: { scanned: 0, used: 0, ms: 0, ranges: [] } };
  }
  // A contextual policy's probabilities depend on the context: it reads the events that logged one of its length only.
  const policy = contextual?.policy ?? fixedPolicy(targetProbabilities(body.policy as Exclude<EvaluateBody['policy'], { type: 'contextual' }>));
  const readable = (context: number[] | undefined) => !contextual || context?.length === contextual.dimension;
  const samples: (LoggedSample & { context?: number[] })[] = [];
  /** The logging policy's choices that another variant answered for: no sample, but a decision for the self-check. */
  const fallbackChoices: (Pick<LoggedSample, 'variant' | 'probability'> & { x?: number[] })[] = [];
  const excluded: Record<string, number> = {};
  let scanned = 0;
  const sinceMs = body.since === undefined ? undefined : Date.parse(body.since);
  const untilMs = body.until === undefined ? undefined : Date.parse(body.until);
  let scan;
  try {
    scan = await readTopicRange(kafka, {
      topic: job.topic,
      sinceMs,
      untilMs,
      groupPrefix: job.groupPrefix,
      maxMessages: job.maxRecords,
      maxBytes: job.maxBytes,
      onMessages: (messages) => {
        for (const message of messages) {
          scanned++;
          const event = parseJoined(message.value);
          // The topic holds every deployment's events; only this one's count, and nothing is excluded on their account.
          if (!event || event.deployment !== name) continue;
          const context = isContext(event.context) ? event.context : undefined;
          const cause = exclusionOf(event) ?? (readable(context) ? undefined : 'no-context');
          if (cause) excluded[cause] = (excluded[cause] ?? 0) + 1;
          if (cause === 'fallback' && event.probability > 0 && readable(context))
            fallbackChoices.push({ variant: event.fallbackFrom!, probability: event.probability, ...(context && { x: context }) });
          if (!cause)
            samples.push({
              variant: event.variant,
              probability: event.probability,
              reward: event.reward,
              ...(typeof event.unitKey === 'string' && { unit: event.unitKey }),
              ...(context && { context }),
            });
        }
      },
    });
  } catch (error) {
    if (!(error instanceof ScanTooLarge)) throw error;
    const reason = `${error.message} (EVALUATE_MAX_RECORDS, EVALUATE_MAX_BYTES): narrow the window with since and until`;
    return { outcome: cannotEvaluate([reason], samples.length), log: { scanned, used: samples.length, ms: 0, ranges: [] } };
  }
  const log = { scanned, used: samples.length, ms: scan.ms, ranges: scan.ranges };

  const level = body.level ?? 0.95;
  // A contextual bandit's events carry their context: the reward model is then fit on it (and a contextual policy reads it).
  const modelled = withLoggedContexts(samples);
  const { estimates, refusals, target } = evaluateOffPolicy(modelled.samples, policy, { level });
  if (refusals.length) {
    const noContext = excluded['no-context'];
    const why = noContext ? [`${noContext} decisions of the window logged no context of the policy's ${contextual!.dimension} numbers`] : [];
    return { outcome: cannotEvaluate(samples.length ? refusals : [...why, ...refusals], samples.length), log };
  }
  const estimators = Object.fromEntries(
    OFF_POLICY_ESTIMATORS.map((method) => {
      const { estimate, low, high, ess } = estimates[method];
      return [method, { estimate, low, high, ess }];
    }),
  ) as EvaluateResponse['estimators'];
  return {
    outcome: success({
      deployment: name,
      ...estimates.snips, // SNIPS is the top-level answer
      estimators,
      meanWeight: meanImportanceWeight([...modelled.samples, ...fallbackChoices], policy),
      level,
      rewardModel: modelled.rewardModel,
      excluded,
      target,
      ...(body.since !== undefined && { since: body.since }),
      ...(body.until !== undefined && { until: body.until }),
      scanned,
      scanMs: scan.ms,
    }),
    log,
  };
}

function cannotEvaluate(reasons: string[], n: number): Failure {
  return { ok: false, error: 'cannot-evaluate', message: `cannot evaluate this policy: ${reasons.join('; ')}`, reasons, n };
}

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
  /** The encoded context a contextual bandit drew for; one that is not a list of finite numbers is not used (a sample without one). */
  context?: unknown;
}

const isContext = (value: unknown): value is number[] =>
  Array.isArray(value) && value.length > 0 && value.length <= MAX_CONTEXT_DIMENSION && value.every((x) => typeof x === 'number' && Number.isFinite(x));

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
