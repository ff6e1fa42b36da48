import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { DecisionEvent, DeploymentSpec, envelope, withStrategy } from '@switchyard/contracts';
import { KafkaClient } from '@switchyard/messaging';
import { PeriodicTask } from '@switchyard/runtime';
import { SpecLog } from '@switchyard/spec-log';
import { ArmStatsStore, DeploymentRegistry, PendingDecision, ReportStore, RolloutStateStore } from '@switchyard/store';
import {
  armCounts,
  type CohortCell,
  type CohortSelection,
  reconcileRollout,
  RolloutDecision,
  RolloutState,
  splitKey,
  staleCohortCells,
  unitCountKeys,
  withDecision,
} from '@switchyard/strategies';
import { RolloutControllerEnv } from '../rollout-controller.env';
import { forgetJudgement, rolloutMetrics, showJudgement, shownDeployments } from './rollout.metrics';

export type PassOutcome = 'skipped' | 'judged' | 'decided' | 'conflict';

/**
 * The one place decisions are made. Every ROLLOUT_INTERVAL_MS it takes, deployment by
 * deployment, a lease (so two controllers never judge one deployment at once), reads the
 * spec, its comparison state and the statistics the updater and joiner keep, and lets
 * `reconcileRollout` decide. A decision that changes the spec (a rollback, a promotion) or
 * its rollout status (a plan step, a pause, a veto) is written to the spec log with
 * compare-and-set on the version judged, together with the decision event as an outbox;
 * the event is then published to `deployment-events` and the outbox cleared. A human
 * edit in between wins: the write is refused and the next pass judges the new spec.
 */
@Injectable()
export class RolloutReconciler implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(RolloutReconciler.name);
  private readonly periodic: PeriodicTask;
  private readonly owner: string;
  /** Per deployment, the split keys whose unit states (cohorts) and counted units (split check) were deleted already: each hash is scanned once per key, not every pass. */
  private readonly prunedKeys = new Map<string, Set<string>>();
  private readonly prunedUnitKeys = new Map<string, Set<string>>();
  /** Per deployment nothing judges, the split key its cohorts were last pruned to. */
  private readonly prunedTo = new Map<string, string>();

  constructor(
    private readonly registry: DeploymentRegistry,
    private readonly specLog: SpecLog,
    private readonly states: RolloutStateStore,
    private readonly reports: ReportStore,
    private readonly rewards: ArmStatsStore,
    private readonly kafka: KafkaClient,
    private readonly env: RolloutControllerEnv,
  ) {
    this.owner = `${env.INSTANCE_ID ?? `${hostname()}-${process.pid}`}-${randomBytes(3).toString('hex')}`;
    this.periodic = new PeriodicTask(
      () => this.passAll(),
      env.ROLLOUT_INTERVAL_MS,
      (error) => this.logger.error({ error: error.message }, 'rollout pass failed'),
    );
  }

  onModuleInit(): void {
    this.periodic.start();
  }

  onModuleDestroy(): Promise<void> {
    return this.periodic.stop();
  }

  async passAll(): Promise<void> {
    let owned = 0;
    const specs = await this.registry.list();
    const listed = new Set(specs.map((spec) => spec.name));
    for (const deployment of shownDeployments()) if (!listed.has(deployment)) forgetJudgement(deployment);
    for (const spec of specs) {
      try {
        if ((await this.reconcile(spec)) !== 'skipped') owned++;
        else forgetJudgement(spec.name);
      } catch (error) {
        rolloutMetrics.passErrors.inc({ deployment: spec.name });
        this.logger.warn({ deployment: spec.name, error: (error as Error).message }, 'could not judge deployment; will retry');
      }
    }
    rolloutMetrics.owned.set(owned);
  }

  /** One pass over one deployment, from the spec as read (possibly already stale: the write will tell). */
  async reconcile(spec: DeploymentSpec): Promise<PassOutcome> {
    const stored = await this.states.read(spec.name);
    const current = splitKey(spec.version, spec.status?.step);
    if (!spec.guardrails && spec.strategy.type !== 'plan' && !stored.outbox) {
      // Nothing judges it, but the updater keeps its cohorts: pruned to the key served now, once per key.
      if (this.prunedTo.get(spec.name) !== current) {
        const [counters, cohorts] = await Promise.all([this.reports.read(spec.name), this.rewards.readCohorts(spec.name)]);
        await this.prune(spec.name, current, counters, cohorts, { keys: [current] });
        this.prunedTo.set(spec.name, current);
      }
      return 'skipped';
    }
    if (!(await this.states.takeLease(spec.name, this.owner, this.env.ROLLOUT_LEASE_MS))) return 'skipped';
    let state = stored.state;
    if (stored.outbox) state = await this.publish(spec.name, stored.outbox, state);

    const [counters, cohorts] = await Promise.all([this.reports.read(spec.name), this.rewards.readCohorts(spec.name)]);
    const step = reconcileRollout(spec, state, { arms: armCounts(counters, current), cohorts }, new Date());
    showJudgement(spec, step);
    await this.prune(spec.name, current, counters, cohorts, step?.state.cohort ?? { keys: [current] });
    if (!step) return 'judged';
    if (!step.decision) {
      if (JSON.stringify(step.state) !== JSON.stringify(state)) await this.states.save(spec.name, step.state);
      return 'judged';
    }
    return this.decide(spec, step.state, step.decision);
  }

  /**
   * Deletes what no comparison can judge any more: the cohort cells outside `selection`
   * and the unit states of keys it left, and the distinct units counted under keys other
   * than the one served now (each key's hashes scanned once per process).
   */
  private async prune(
    deployment: string,
    current: string,
    counters: Record<string, string>,
    cells: readonly CohortCell[],
    selection: CohortSelection,
  ): Promise<void> {
    const stale = staleCohortCells(cells, selection);
    const done = (of: Map<string, Set<string>>) => of.get(deployment) ?? of.set(deployment, new Set()).get(deployment)!;
    const [cohortDone, unitsDone] = [done(this.prunedKeys), done(this.prunedUnitKeys)];
    const cohortKeys = stale.keys.filter((key) => !cohortDone.has(key));
    const unitKeys = unitCountKeys(counters).filter((key) => key !== current && !unitsDone.has(key));
    if (stale.cells.length || cohortKeys.length) {
      await this.rewards.pruneCohorts(deployment, stale.cells, cohortKeys);
      for (const key of cohortKeys) cohortDone.add(key);
      rolloutMetrics.cohortCellsPruned.inc({ deployment }, stale.cells.length);
    }
    if (unitKeys.length) {
      await this.reports.forgetUnits(deployment, unitKeys);
      for (const key of unitKeys) unitsDone.add(key);
    }
  }

  private async decide(spec: DeploymentSpec, judged: RolloutState, decision: RolloutDecision): Promise<PassOutcome> {
    const event: DecisionEvent = {
      ...envelope('decision'),
      deployment: spec.name,
      action: decision.action,
      reason: decision.reason,
      fromVersion: spec.version,
      toVersion: spec.version,
      ...(decision.candidate && { candidate: decision.candidate }),
      ...(decision.primary && { primary: decision.primary }),
      evidence: decision.evidence,
    };
    const { strategy, status } = decision;
    const state = withDecision(judged, {
      action: event.action,
      reason: event.reason,
      at: event.occurredAt,
      fromVersion: spec.version,
      toVersion: strategy ? null : spec.version,
      ...(status && { wroteStatus: true as const }),
    });
    this.logger.log({ deployment: spec.name, action: event.action, reason: event.reason, fromVersion: spec.version }, 'decision');
    if (!strategy && !status) {
      await this.states.save(spec.name, state, event);
      await this.publish(spec.name, { event }, state);
      return 'decided';
    }
    const written = await this.specLog.submit({
      deployment: spec.name,
      expectedVersion: spec.version,
      rollout: { state, outbox: event },
      // A rolled-back candidate is held: re-applying its spec does not start it again until an operator's retry.
      ...(strategy
        ? { change: 'put', body: withStrategy(spec, strategy, new Date(event.occurredAt)), ...(decision.action === 'rollback' && { hold: true }) }
        : { change: 'status', status }),
    });
    if (written.result !== 'written') {
      rolloutMetrics.conflicts.inc({ deployment: spec.name });
      this.logger.log({ deployment: spec.name, judgedVersion: spec.version }, 'spec changed since it was judged; not written, judging again next pass');
      return 'conflict';
    }
    await this.publish(spec.name, { event, writtenVersion: written.version }, state);
    return 'decided';
  }

  /** Publishes a decision from the outbox (again, after a crash: consumers dedupe by eventId), then clears it. */
  private async publish(deployment: string, pending: PendingDecision, state: RolloutState | undefined): Promise<RolloutState | undefined> {
    const event = { ...pending.event, ...(pending.writtenVersion !== undefined && { toVersion: pending.writtenVersion }) };
    await this.kafka.publishJson(this.kafka.topics.deploymentEvents, deployment, event);
    rolloutMetrics.decisions.inc({ deployment, action: event.action });
    const settled = state?.lastDecision && state.lastDecision.toVersion === null ? settle(state, event.toVersion) : state;
    if (settled && settled !== state) await this.states.save(deployment, settled);
    await this.states.clearOutbox(deployment, event.eventId);
    return settled;
  }
}

/** The state once the version its last decision wrote is known. */
function settle(state: RolloutState, toVersion: number): RolloutState {
  const at = state.lastDecision!.at;
  const history = (state.history ?? []).map((decision) => (decision.at === at && decision.toVersion === null ? { ...decision, toVersion } : decision));
  return { ...state, lastDecision: { ...state.lastDecision!, toVersion }, history };
}
