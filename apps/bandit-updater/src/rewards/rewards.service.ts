import { Injectable } from '@nestjs/common';
import { EVENT_TYPES, JoinedEvent, SCHEMA_VERSIONS } from '@switchyard/contracts';
import { InboundMessage, parseBatch, Rejection } from '@switchyard/messaging';
import { ArmStatsStore, EVENT_ID_PATTERN, RewardRecord } from '@switchyard/store';
import { countsInArmStatistics } from '@switchyard/strategies';
import { BanditUpdaterEnv } from '../bandit-updater.env';
import { WeightSnapshots } from '../snapshots/weight-snapshots';
import { updaterMetrics } from '../updater.metrics';

/**
 * Turns a batch of joined events into reward statistics: validated, then applied in
 * one Redis round trip in which each event's id is claimed atomically with its
 * increments. The batch's offsets are committed only after this resolves, so a crash
 * replays the batch, and the claims make the replay change nothing already counted.
 */
@Injectable()
export class RewardsService {
  constructor(
    private readonly stats: ArmStatsStore,
    private readonly snapshots: WeightSnapshots,
    private readonly env: BanditUpdaterEnv,
  ) {}

  async onJoined(messages: InboundMessage[]): Promise<Rejection[]> {
    const { accepted, rejected } = parseBatch(JoinedEvent, messages, 'joined event', (event) => {
      if (event.type !== EVENT_TYPES.joined || event.version !== SCHEMA_VERSIONS.joined) {
        return `not a joined event of schema version ${SCHEMA_VERSIONS.joined}: type ${JSON.stringify(event.type)}, version ${event.version}`;
      }
      if (!EVENT_ID_PATTERN.test(event.eventId)) return 'eventId must be 1-128 letters, digits, ".", "_", ":" or "-"';
      return undefined;
    });
    // Fallback answers are not the policy's choice for the variant that answered: left out
    // (see countsInArmStatistics), counted.
    const credited = accepted.filter(({ value }) => {
      if (countsInArmStatistics(value)) return true;
      updaterMetrics.fallbacksSkipped.inc({ deployment: value.deployment });
      return false;
    });
    const records: RewardRecord[] = credited.map(({ value: { eventId, deployment, variant, role, specVersion, reward } }) => ({
      eventId,
      deployment,
      variant,
      role,
      specVersion,
      reward,
    }));

    const outcomes = await this.stats.applyRewards(records, this.env.APPLIED_TTL_SECONDS);
    records.forEach((record, i) => {
      const outcome = outcomes[i];
      if (outcome === 'applied') {
        updaterMetrics.applied.inc({ deployment: record.deployment, role: record.role });
        if (record.role === 'served') this.snapshots.changed(record.deployment);
      } else if (outcome === 'duplicate') {
        updaterMetrics.duplicates.inc({ deployment: record.deployment });
      } else {
        updaterMetrics.stale.inc({ deployment: record.deployment });
      }
    });
    if (rejected.length) updaterMetrics.rejected.inc(rejected.length);
    return rejected;
  }
}
