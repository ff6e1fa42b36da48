import { Counter, Gauge } from 'prom-client';
import { ROLLOUT_STATUSES } from '@switchyard/strategies';

export const rolloutMetrics = {
  decisions: new Counter({
    name: 'switchyard_rollout_decisions_total',
    help: 'Decisions taken and published, by deployment and action (rollback, promote, advance, pause, hold, veto)',
    labelNames: ['deployment', 'action'] as const,
  }),
  conflicts: new Counter({
    name: 'switchyard_rollout_conflicts_total',
    help: 'Decisions not written because the spec changed between the read and the write (re-judged on the next pass)',
    labelNames: ['deployment'] as const,
  }),
  passErrors: new Counter({
    name: 'switchyard_rollout_pass_errors_total',
    help: 'Passes over a deployment that failed (Redis or Kafka unreachable, or a bug); retried on the next pass',
    labelNames: ['deployment'] as const,
  }),
  status: new Gauge({
    name: 'switchyard_rollout_status',
    help: `1 for the current status of each judged deployment (${ROLLOUT_STATUSES.join(', ')}), 0 for the others`,
    labelNames: ['deployment', 'status'] as const,
  }),
  cohortCellsPruned: new Counter({
    name: 'switchyard_rollout_cohort_cells_pruned_total',
    help: 'Cohort cells deleted because no comparison can judge them any more (split keys left behind, slots before a fresh start)',
    labelNames: ['deployment'] as const,
  }),
  owned: new Gauge({
    name: 'switchyard_rollout_owned_deployments',
    help: 'Deployments this controller holds the lease of',
  }),
};
