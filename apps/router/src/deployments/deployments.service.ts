import { Injectable, UnprocessableEntityException } from '@nestjs/common';
import {
  DecisionAction,
  DecisionEvent,
  DecisionEvidence,
  DeploymentAction,
  DeploymentEvent,
  DeploymentSpec,
  envelope,
  GUARDRAIL_DEFAULTS,
  normalizeSpec,
  validateDeploymentSpec,
  withStrategy,
} from '@switchyard/contracts';
import { KafkaClient } from '@switchyard/messaging';
import { ModelClient, UrlAllowlist } from '@switchyard/model-client';
import { SpecChangeRequest, SpecLog, SpecLogTimeout } from '@switchyard/spec-log';
import { ArmStatsStore, BanditWeightsStore, DeploymentRegistry, ReportStore, RolloutStateStore } from '@switchyard/store';
import {
  AppliedSpec,
  appliedSpec,
  currentStep,
  DeploymentHealth,
  deploymentHealth,
  deploymentView,
  feedbackOutcomes,
  putOutcome,
  recentBuckets,
  SpecBody,
  SpecOutcome,
  withDecision,
} from '@switchyard/strategies';
import { changedMeanwhile, invalid, notReadBack, unknownDeployment } from '../http-errors';
import { RouterEnv } from '../router.env';
import { DeploymentCache } from './deployment.cache';

export type PutResult = ReturnType<typeof putOutcome>;

/** A PUT's answer: the spec in force after it, and whether it was written. */
export type PutAnswer = DeploymentSpec & { result: PutResult; message?: string };

/** A dry run's answer: what a PUT would do, the spec in force (as a PUT body) and the one sent, normalized. */
export interface DryRunAnswer {
  dryRun: true;
  result: PutResult;
  /** The version in force; `null` when the deployment does not exist yet. */
  version: number | null;
  current: AppliedSpec | null;
  spec: AppliedSpec;
  message?: string;
}

/** An operator's decision taken before the controller compared anything: no numbers. */
const noEvidence = (spec: DeploymentSpec): DecisionEvidence => ({
  metric: 'reward',
  n: {},
  mean: {},
  delta: null,
  low: null,
  high: null,
  alpha: spec.guardrails?.alpha ?? GUARDRAIL_DEFAULTS.alpha,
  srmP: null,
});

const heldMessage = (name: string, held: number) =>
  `this spec is rev ${held}, which a rollback or an abort ended: it is not started again until an operator retries it ` +
  `(POST /v1/deployments/${name}/retry, switchyard retry ${name}) or another spec is applied`;

/**
 * The control plane: every change is recorded on the spec log (which gives it its
 * version), then announced on `deployment-events`. A change computed from the spec as
 * read (promote, plan actions) applies only while that version is still current.
 */
@Injectable()
export class DeploymentsService {
  constructor(
    private readonly registry: DeploymentRegistry,
    private readonly specLog: SpecLog,
    private readonly cache: DeploymentCache,
    private readonly kafka: KafkaClient,
    private readonly reports: ReportStore,
    private readonly rewards: ArmStatsStore,
    private readonly rollouts: RolloutStateStore,
    private readonly weights: BanditWeightsStore,
    private readonly allowlist: UrlAllowlist,
    private readonly models: ModelClient,
    private readonly env: RouterEnv,
  ) {}

  /** Writes the spec, unless it is the one in force (`unchanged`) or one a rollback or abort ended (`held`): see `putOutcome`. */
  async put(name: string, body: unknown, force = false): Promise<PutAnswer> {
    const spec = this.validated(name, body);
    if (!force) await this.probe(spec);
    const outcome = await this.submit({ deployment: name, change: 'put', body: spec });
    if (outcome.result === 'unchanged') return { ...(await this.get(name)), result: 'unchanged' };
    if (outcome.result === 'held') return { ...(await this.get(name)), result: 'held', message: heldMessage(name, outcome.held) };
    // A new version that kept the strategy kept its rollout status too.
    return { ...(await this.changed({ ...this.written(name, spec, outcome), status: await this.rollouts.status(name) }, 'put')), result: 'written' };
  }

  /** What a PUT of `body` would do, checked as a PUT checks it, with nothing written. */
  async dryRun(name: string, body: unknown, force = false): Promise<DryRunAnswer> {
    const spec = this.validated(name, body);
    if (!force) await this.probe(spec);
    const current = await this.registry.get(name);
    const held = current?.status?.held === undefined ? null : await this.registry.version(name, current.status.held);
    const result = putOutcome(current ?? undefined, held ?? undefined, spec);
    return {
      dryRun: true,
      result,
      version: current?.version ?? null,
      current: current && appliedSpec(current),
      spec: appliedSpec(spec),
      ...(result === 'held' && { message: heldMessage(name, held!.version) }),
    };
  }

  private validated(name: string, body: unknown): SpecBody {
    const result = validateDeploymentSpec(body);
    if (!result.ok) throw invalid('invalid deployment spec', result.problems);
    const refused = result.value.variants.flatMap((variant, i) => {
      const problem = this.allowlist.problem(variant.url);
      return problem ? [`variants.${i}.url: ${problem}`] : [];
    });
    // A router that could not sign the tokens would answer every prediction of the deployment with 503.
    if (result.value.feedback?.requireToken && !this.env.FEEDBACK_TOKEN_SECRET) {
      refused.push(
        'feedback.requireToken: this router has no FEEDBACK_TOKEN_SECRET to sign tokens with (npm run up writes one to .switchyard/feedback-token-secret)',
      );
    }
    if (refused.length) throw invalid('invalid deployment spec', refused);
    return normalizeSpec(name, result.value);
  }

  /**
   * Refuses (422, naming each variant) a spec with a variant that cannot serve now: a
   * mistyped model name or an unreachable URL is caught when it is applied, not by the
   * first requests that fall back or fail. All variants are asked at once.
   */
  private async probe(spec: SpecBody): Promise<void> {
    const problems = (
      await Promise.all(
        spec.variants.map(async (variant) => {
          const problem = await this.models.unready(variant, this.env.MODEL_PROBE_TIMEOUT_MS);
          return problem && `variant "${variant.name}"${variant.model === undefined ? '' : ` (model "${variant.model}")`}: ${problem}`;
        }),
      )
    ).filter((problem): problem is string => problem !== undefined);
    if (problems.length) {
      throw new UnprocessableEntityException({
        statusCode: 422,
        error: 'Unprocessable Entity',
        message: `variants not ready: ${problems.join('; ')} (force=true applies the spec anyway)`,
        problems,
      });
    }
  }

  /** The operator's retry: the held spec (rolled back or aborted) written again as a new version, its comparison started afresh. */
  async retry(name: string): Promise<DeploymentSpec> {
    const current = await this.get(name);
    const held = current.status?.held;
    const body = held === undefined ? null : await this.registry.version(name, held);
    if (!body) throw invalid('cannot retry', [`deployment "${name}" has no rolled-back or aborted spec to retry`]);
    const { version: _version, status: _status, ...spec } = body;
    const decision = await this.operatorDecision(current, 'retry', `rev ${held} retried by an operator`, current.version + 1);
    const retried = await this.replace(current, { ...spec, updatedAt: new Date().toISOString() }, { retry: true, rollout: decision.rollout });
    return decision.announce(await this.changed(retried, 'retry', { fromVersion: current.version, retriedVersion: held }));
  }

  /**
   * An operator's action as a decision, built before its change is written: the rollout
   * state with it as the last decision (`rollout`, written by the spec log in the same step
   * as the change, so `status` shows it at once and the controller's next pass reads it),
   * and the decision event, marked `operator`, that `announce` publishes on
   * `deployment-events` once the change is written, so the timeline shows it beside the
   * controller's. A change by compare-and-set on `current` that is written is rev
   * `current.version + 1` (a rev is the last one plus one), or `current.version` for a
   * status change. Before the controller's first pass there is no state to record it in.
   */
  private async operatorDecision(current: DeploymentSpec, action: DecisionAction, reason: string, toVersion: number, candidate?: string) {
    const { state } = await this.rollouts.read(current.name);
    const primary = 'primary' in current.strategy ? current.strategy.primary : undefined;
    const event: DecisionEvent = {
      ...envelope('decision'),
      deployment: current.name,
      action,
      reason,
      fromVersion: current.version,
      toVersion,
      ...(candidate && { candidate }),
      ...(primary && { primary }),
      evidence: state?.evidence ?? noEvidence(current),
      operator: true,
    };
    const summary = { action, reason, at: event.occurredAt, fromVersion: current.version, toVersion };
    const rollout = state && { state: withDecision(state, toVersion === current.version ? { ...summary, wroteStatus: true as const } : summary) };
    return {
      rollout,
      announce: async <T>(written: T): Promise<T> => {
        await this.kafka.publishJson(this.kafka.topics.deploymentEvents, current.name, event);
        return written;
      },
    };
  }

  async get(name: string): Promise<DeploymentSpec> {
    const spec = await this.registry.get(name);
    if (!spec) throw unknownDeployment(name);
    return spec;
  }

  /** The spec as `GET /v1/deployments/{name}` shows it (`deploymentView`). */
  async getWithReport(name: string) {
    const spec = await this.get(name);
    const [counters, rewards, rollout, weights, recent, feedback] = await Promise.all([
      this.reports.read(name),
      this.rewards.read(name),
      this.rollouts.read(name),
      this.weights.readMany([name]),
      this.reports.readRecent(name, recentBuckets(new Date())),
      this.reports.readFeedbackOutcomes(name),
    ]);
    return {
      ...deploymentView(spec, { counters, rewards, judged: rollout.state, weights: weights.get(name), recent }),
      feedback: feedbackOutcomes(feedback),
    };
  }

  /** Every spec, each with its `health` (`deploymentHealth`), as `switchyard list` shows it. */
  async list(): Promise<(DeploymentSpec & { health: DeploymentHealth })[]> {
    const specs = await this.registry.list();
    const rollouts = await Promise.all(specs.map((spec) => this.rollouts.read(spec.name)));
    return specs.map((spec, i) => ({ ...spec, health: deploymentHealth(spec, rollouts[i].state) }));
  }

  async remove(name: string): Promise<void> {
    if ((await this.submit({ deployment: name, change: 'delete' })).result !== 'written') throw unknownDeployment(name);
    this.cache.delete(name);
    await this.announce(name, 'delete');
  }

  async promote(name: string, variant: string): Promise<DeploymentSpec> {
    const current = await this.get(name);
    if (!current.variants.some((v) => v.name === variant)) {
      throw invalid('cannot promote', [`variant "${variant}" is not one of ${current.variants.map((v) => v.name).join(', ')}`]);
    }
    const decision = await this.operatorDecision(current, 'promote', `${variant} promoted by an operator`, current.version + 1, variant);
    const spec = await this.replace(current, withStrategy(current, { type: 'single', variant }), { rollout: decision.rollout });
    return decision.announce(await this.changed(spec, 'promote', { from: current.strategy, fromVersion: current.version }));
  }

  /**
   * An operator's hand on a plan: pause and resume set its rollout status (no new version,
   * the current step's evidence kept); abort returns to the primary (a new version).
   */
  async planAction(name: string, action: 'pause' | 'resume' | 'abort'): Promise<DeploymentSpec> {
    const current = await this.get(name);
    if (current.strategy.type !== 'plan') throw invalid(`cannot ${action}`, [`deployment "${name}" runs strategy ${current.strategy.type}, not a plan`]);
    const step = currentStep(current.strategy, current.status).index + 1;
    const detail = { fromVersion: current.version, step };
    const reason = `step ${step} of ${current.strategy.steps.length}: ${action === 'abort' ? 'aborted' : `${action}d`} by an operator`;
    if (action === 'abort') {
      const decision = await this.operatorDecision(current, 'abort', reason, current.version + 1, current.strategy.candidate);
      const single = withStrategy(current, { type: 'single', variant: current.strategy.primary });
      const aborted = await this.replace(current, single, { hold: true, rollout: decision.rollout });
      return decision.announce(await this.changed(aborted, 'plan-abort', detail));
    }
    // Already so: nothing to write, nothing to announce.
    if (!!current.status?.paused === (action === 'pause')) return current;
    const decision = await this.operatorDecision(current, action, reason, current.version, current.strategy.candidate);
    const outcome = await this.submit({
      deployment: name,
      change: 'status',
      status: { paused: action === 'pause' },
      expectedVersion: current.version,
      rollout: decision.rollout,
    });
    if (outcome.result === 'conflict') throw changedMeanwhile(name, current.version, outcome.current);
    return decision.announce(await this.changed(await this.get(name), `plan-${action}`, detail));
  }

  async rollback(name: string): Promise<DeploymentSpec> {
    const current = await this.get(name);
    const decision = await this.operatorDecision(current, 'rollback', 'the rev before restored by an operator', current.version + 1);
    const outcome = await this.submit({ deployment: name, change: 'rollback', expectedVersion: current.version, rollout: decision.rollout });
    if (outcome.result === 'conflict') throw changedMeanwhile(name, current.version, outcome.current);
    if (outcome.result !== 'written') throw invalid('cannot roll back', [`deployment "${name}" has no earlier version`]);
    const spec = await this.registry.version(name, outcome.version);
    if (!spec) throw unknownDeployment(name);
    return decision.announce(await this.changed(spec, 'rollback', { restoredVersion: outcome.restored }));
  }

  /** Writes `body` in place of `current`, unless the spec changed since `current` was read. */
  private async replace(current: DeploymentSpec, body: SpecBody, flags: Pick<SpecChangeRequest, 'hold' | 'retry' | 'rollout'> = {}): Promise<DeploymentSpec> {
    return this.written(
      current.name,
      body,
      await this.submit({ deployment: current.name, change: 'put', body, expectedVersion: current.version, ...flags }),
      current.version,
    );
  }

  private written(name: string, body: SpecBody, outcome: SpecOutcome, read?: number): DeploymentSpec {
    if (outcome.result !== 'conflict' && outcome.result !== 'nothing') return { ...body, version: outcome.version };
    throw read === undefined ? unknownDeployment(name) : changedMeanwhile(name, read, outcome.current);
  }

  private async submit(change: SpecChangeRequest): Promise<SpecOutcome> {
    try {
      return await this.specLog.submit(change);
    } catch (error) {
      throw error instanceof SpecLogTimeout ? notReadBack(error) : error;
    }
  }

  private async changed(spec: DeploymentSpec, action: DeploymentAction, detail: Record<string, unknown> = {}): Promise<DeploymentSpec> {
    this.cache.set(spec);
    await this.announce(spec.name, action, spec.version, { strategy: spec.strategy, ...(spec.status && { status: spec.status }), ...detail });
    return spec;
  }

  private announce(deployment: string, action: DeploymentAction, specVersion?: number, detail?: Record<string, unknown>): Promise<void> {
    const event: DeploymentEvent = { ...envelope('deployment'), deployment, action, specVersion, detail };
    return this.kafka.publishJson(this.kafka.topics.deploymentEvents, deployment, event);
  }
}
