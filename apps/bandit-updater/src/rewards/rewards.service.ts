import { Injectable, Logger } from '@nestjs/common';
import { DeploymentSpec, EVENT_TYPES, JoinedEvent, SCHEMA_VERSIONS } from '@switchyard/contracts';
import { BatchOutcome, InboundBatch, parseBatch } from '@switchyard/messaging';
import { ArmStatsStore, DeploymentRegistry, RewardRecord } from '@switchyard/store';
import { countEach } from '@switchyard/runtime';
import { cohortArm, countsInArmStatistics, pairsByRequest, RewardOutcome, ridgeIncrement, servingSpec } from '@switchyard/strategies';
import { ArmReconciler } from '../arms/arm-reconciler';
import { StatisticsCheckpoints } from '../checkpoints/statistics-checkpoints';
import { BanditUpdaterEnv } from '../bandit-updater.env';
import { WeightSnapshots } from '../snapshots/weight-snapshots';
import { updaterMetrics } from '../updater.metrics';

/**
 * Turns a batch of joined events (one partition) into reward statistics (an arm's totals,
 * and the same by the step and slot of time that served them): validated, then
 * applied per deployment by scripts that skip what the deployment's position for the
 * partition says was taken in, and advance it with the increments. The batch's offsets
 * are committed only after this resolves, so a crash replays the batch, and the
 * positions make the replay change nothing already counted.
 *
 * A deployment without a position for the partition is either new to it or lost with
 * Redis. The partition's `tracked` marker tells: present, the position starts here;
 * missing, Redis lost the statistics (or never had them): they are restored from their
 * latest checkpoint and the partition read again from the offset it covers (else, with
 * no checkpoint, from its log start), where the marker is set and each missing position
 * starts. The marker is checked before every batch too: a restore writes positions of
 * every partition at once, so a position alone no longer says the partition is whole.
 */
@Injectable()
export class RewardsService {
  private readonly logger = new Logger(RewardsService.name);

  constructor(
    private readonly stats: ArmStatsStore,
    private readonly registry: DeploymentRegistry,
    private readonly snapshots: WeightSnapshots,
    private readonly arms: ArmReconciler,
    private readonly checkpoints: StatisticsCheckpoints,
    private readonly env: BanditUpdaterEnv,
  ) {}

  async onJoined(batch: InboundBatch): Promise<BatchOutcome> {
    const { accepted, rejected } = parseBatch(JoinedEvent, batch.messages, 'joined event', (event) =>
      event.type !== EVENT_TYPES.joined || event.version !== SCHEMA_VERSIONS.joined
        ? `not a joined event of schema version ${SCHEMA_VERSIONS.joined}: type ${JSON.stringify(event.type)}, version ${event.version}`
        : undefined,
    );
    // Fallback answers are not the policy's choice for the variant that answered: left out
    // (see countsInArmStatistics), counted.
    const credited = accepted.filter(({ value }) => {
      if (countsInArmStatistics(value)) return true;
      updaterMetrics.fallbacksSkipped.inc({ deployment: value.deployment });
      return false;
    });
    const specs = await this.specsOf(credited.map(({ value }) => value.deployment));
    // Also under the step that served it (its cohort), however late its label came; a
    // contextual bandit's served reward also in its arm's ridge sums, by the current spec.
    const records: RewardRecord[] = credited.map(({ message: { offset }, value }) => {
      const spec = specs.get(value.deployment);
      const strategy = value.role === 'served' ? spec?.strategy : undefined;
      const ridge = strategy && ridgeIncrement(strategy, value);
      return {
        offset,
        deployment: value.deployment,
        variant: value.variant,
        role: value.role,
        specVersion: value.specVersion,
        reward: value.reward,
        cohort: cohortArm(value, this.env.COHORT_BUCKET_SECONDS),
        // The cohort cells' unit sums cluster by it (cluster.ts); absent, a unit of its own.
        ...(value.unitKey !== undefined && { unitKey: value.unitKey }),
        // A shadow step's or paired canary's rewards pair by request (the rollout controller's paired test).
        ...(spec && pairsByRequest(servingSpec(spec).strategy, value) && { requestId: value.requestId }),
        ...(ridge && { ridge }),
      };
    });

    if (!(await this.stats.isTracked(batch.topic, batch.partition))) {
      const rewindTo = await this.ensureTracked(batch);
      if (rewindTo !== undefined) return { rewindTo };
    }
    await this.stats.deployments.note(records.map((r) => r.deployment));
    const clock = { now: Date.now(), holdMs: this.env.PAIR_HOLD_SECONDS * 1000 };
    const outcomes = await this.stats.applyRewards(batch.partition, records, false, clock);
    const unpositioned = records.flatMap((_, i) => (outcomes[i] === 'unpositioned' ? [i] : []));
    if (unpositioned.length) {
      const rewindTo = await this.ensureTracked(batch);
      if (rewindTo !== undefined) return { rewindTo };
      const started = await this.stats.applyRewards(
        batch.partition,
        unpositioned.map((i) => records[i]),
        true,
        clock,
      );
      unpositioned.forEach((i, j) => (outcomes[i] = started[j]));
    }
    this.count(records, outcomes);
    if (rejected.length) updaterMetrics.rejected.inc(rejected.length);
    return { rejected };
  }

  /**
   * The current spec of each deployment: a contextual bandit's strategy (its ridge sums),
   * and which rewards it pairs now (`pairsByRequest`: a shadow strategy or step, a paired
   * canary or canary step), the only rewards held for pairing, so an unpaired canary holds
   * nothing. A reward of an earlier step that comes after the step changed goes unpaired.
   */
  private async specsOf(deployments: string[]): Promise<Map<string, DeploymentSpec>> {
    const names = [...new Set(deployments)];
    const specs = await Promise.all(names.map((name) => this.registry.get(name)));
    return new Map(names.flatMap((name, i) => (specs[i] ? [[name, specs[i]] as const] : [])));
  }

  /**
   * Makes sure the statistics hold the batch's partition from its log start (or from where
   * a restored checkpoint covers it to); answers the offset to read it again from when they
   * do not and the batch does not start there.
   */
  private async ensureTracked(batch: InboundBatch): Promise<string | undefined> {
    const { topic, partition } = batch;
    if (await this.stats.isTracked(topic, partition)) return undefined;
    // Redis lost the set of deployments with the rest: noted again from here.
    this.stats.deployments.forgetNoted();
    const logStart = BigInt(await batch.logStartOffset());
    let restored = await this.stats.restoredFrom(topic, partition);
    if (restored === null && (await this.checkpoints.restore())) restored = await this.stats.restoredFrom(topic, partition);
    // A checkpoint older than the log start (retention went past it) covers all there is.
    const from = restored === null ? logStart : BigInt(restored) > logStart ? BigInt(restored) : logStart;
    if (BigInt(batch.readFrom) <= from) {
      await this.stats.track(topic, partition, String(from));
      if (restored !== null) this.arms.resync();
      this.logger.log({ topic, partition, from: String(from), checkpoint: restored !== null }, 'taking the partition in from here');
      return undefined;
    }
    updaterMetrics.rewinds.inc({ partition: String(batch.partition) });
    // The arm sets went with the rest: recorded again at the reconciler's next pass.
    this.arms.resync();
    this.logger.warn(
      { topic, partition, at: batch.readFrom, from: String(from), checkpoint: restored !== null },
      'the statistics do not hold this partition (Redis lost them, or never had them): reading it again from its checkpoint, else its log start',
    );
    return String(from);
  }

  private count(records: RewardRecord[], outcomes: RewardOutcome[]): void {
    const of = (outcome: RewardOutcome) => records.filter((_, i) => outcomes[i] === outcome);
    const applied = of('applied');
    countEach(updaterMetrics.applied, applied, ({ deployment, role }) => ({ deployment, role }));
    for (const deployment of new Set(applied.flatMap((r) => (r.role === 'served' ? [r.deployment] : [])))) this.snapshots.changed(deployment);
    countEach(updaterMetrics.duplicates, of('duplicate'), ({ deployment }) => ({ deployment }));
    countEach(updaterMetrics.stale, of('stale'), ({ deployment }) => ({ deployment }));
  }
}
