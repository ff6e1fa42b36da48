import { Injectable } from '@nestjs/common';
import { DeploymentAction, DeploymentEvent, DeploymentSpec, envelope, normalizeSpec, validateDeploymentSpec, withStrategy } from '@switchyard/contracts';
import { KafkaClient } from '@switchyard/messaging';
import { SpecChangeRequest, SpecLog, SpecLogTimeout } from '@switchyard/spec-log';
import { ArmStatsStore, BanditWeightsStore, DeploymentRegistry, ReportStore, RolloutStateStore } from '@switchyard/store';
import { currentStep, deploymentView, SpecBody, SpecOutcome } from '@switchyard/strategies';
import { UrlAllowlist } from '../auth/url-allowlist';
import { changedMeanwhile, invalid, notReadBack, unknownDeployment } from '../http-errors';
import { DeploymentCache } from './deployment.cache';

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
  ) {}

  async put(name: string, body: unknown): Promise<DeploymentSpec> {
    const result = validateDeploymentSpec(body);
    if (!result.ok) throw invalid('invalid deployment spec', result.problems);
    const refused = result.value.variants.flatMap((variant, i) => {
      const problem = this.allowlist.problem(variant.url);
      return problem ? [`variants.${i}.url: ${problem}`] : [];
    });
    if (refused.length) throw invalid('invalid deployment spec', refused);
    const spec = normalizeSpec(name, result.value);
    const outcome = await this.submit({ deployment: name, change: 'put', body: spec });
    // The spec in force again: nothing changed, nothing to announce.
    if (outcome.result === 'unchanged') return this.get(name);
    // A new version that kept the strategy kept its rollout status too.
    return this.changed({ ...this.written(name, spec, outcome), status: await this.rollouts.status(name) }, 'put');
  }

  async get(name: string): Promise<DeploymentSpec> {
    const spec = await this.registry.get(name);
    if (!spec) throw unknownDeployment(name);
    return spec;
  }

  /** The spec as `GET /v1/deployments/{name}` shows it (`deploymentView`). */
  async getWithReport(name: string) {
    const spec = await this.get(name);
    const [counters, rewards, rollout, weights] = await Promise.all([
      this.reports.read(name),
      this.rewards.read(name),
      this.rollouts.read(name),
      this.weights.readMany([name]),
    ]);
    return deploymentView(spec, { counters, rewards, judged: rollout.state, weights: weights.get(name) });
  }

  list(): Promise<DeploymentSpec[]> {
    return this.registry.list();
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
    const spec = await this.replace(current, withStrategy(current, { type: 'single', variant }));
    return this.changed(spec, 'promote', { from: current.strategy, fromVersion: current.version });
  }

  /**
   * An operator's hand on a plan: pause and resume set its rollout status (no new version,
   * the current step's evidence kept); abort returns to the primary (a new version).
   */
  async planAction(name: string, action: 'pause' | 'resume' | 'abort'): Promise<DeploymentSpec> {
    const current = await this.get(name);
    if (current.strategy.type !== 'plan') throw invalid(`cannot ${action}`, [`deployment "${name}" runs strategy ${current.strategy.type}, not a plan`]);
    const detail = { fromVersion: current.version, step: currentStep(current.strategy, current.status).index + 1 };
    if (action === 'abort') {
      return this.changed(await this.replace(current, withStrategy(current, { type: 'single', variant: current.strategy.primary })), 'plan-abort', detail);
    }
    const outcome = await this.submit({ deployment: name, change: 'status', status: { paused: action === 'pause' }, expectedVersion: current.version });
    if (outcome.result === 'conflict') throw changedMeanwhile(name, current.version, outcome.current);
    return this.changed(await this.get(name), `plan-${action}`, detail);
  }

  async rollback(name: string): Promise<DeploymentSpec> {
    const outcome = await this.submit({ deployment: name, change: 'rollback' });
    if (outcome.result !== 'written') {
      if (outcome.result !== 'unchanged' && outcome.current === null) throw unknownDeployment(name);
      throw invalid('cannot roll back', [`deployment "${name}" has no earlier version`]);
    }
    const spec = await this.registry.version(name, outcome.version);
    if (!spec) throw unknownDeployment(name);
    return this.changed(spec, 'rollback', { restoredVersion: outcome.restored });
  }

  /** Writes `body` in place of `current`, unless the spec changed since `current` was read. */
  private async replace(current: DeploymentSpec, body: SpecBody): Promise<DeploymentSpec> {
    return this.written(
      current.name,
      body,
      await this.submit({ deployment: current.name, change: 'put', body, expectedVersion: current.version }),
      current.version,
    );
  }

  private written(name: string, body: SpecBody, outcome: SpecOutcome, read?: number): DeploymentSpec {
    if (outcome.result === 'written' || outcome.result === 'unchanged') return { ...body, version: outcome.version };
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
