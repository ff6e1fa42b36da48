import { Counter } from 'prom-client';

export const updaterMetrics = {
  applied: new Counter({
    name: 'switchyard_updater_applied_total',
    help: 'Joined rewards added to the statistics, by deployment and role (served, shadow)',
    labelNames: ['deployment', 'role'] as const,
  }),
  duplicates: new Counter({
    name: 'switchyard_updater_duplicates_total',
    help: 'Joined events not applied because their offset was already taken in (a redelivery)',
    labelNames: ['deployment'] as const,
  }),
  stale: new Counter({
    name: 'switchyard_updater_stale_total',
    help: 'Joined rewards not counted because their arm left the spec, or they belong to an earlier life of the arm',
    labelNames: ['deployment'] as const,
  }),
  fallbacksSkipped: new Counter({
    name: 'switchyard_updater_fallbacks_skipped_total',
    help: 'Joined served events not counted because another variant answered for the chosen one (fallbackFrom): the policy did not choose it',
    labelNames: ['deployment'] as const,
  }),
  rejected: new Counter({
    name: 'switchyard_updater_rejected_total',
    help: 'Joined messages sent to the DLQ because they could not be parsed or validated',
  }),
  armsRemoved: new Counter({
    name: 'switchyard_updater_arms_removed_total',
    help: 'Arms whose statistics were removed because a spec change removed (or removed and re-added) them',
    labelNames: ['deployment'] as const,
  }),
  rewinds: new Counter({
    name: 'switchyard_updater_partition_rewinds_total',
    help: 'Joined-topic partitions read again from their log start because Redis did not hold their statistics from there (lost, or never had them)',
    labelNames: ['partition'] as const,
  }),
  snapshots: new Counter({
    name: 'switchyard_updater_weight_snapshots_total',
    help: 'Weight snapshots published to deployment-events, by deployment',
    labelNames: ['deployment'] as const,
  }),
};
