import { Counter } from 'prom-client';

export const joinMetrics = {
  joined: new Counter({
    name: 'switchyard_joiner_joined_total',
    help: 'Joined events published, by deployment, variant and role (served, shadow)',
    labelNames: ['deployment', 'variant', 'role'] as const,
  }),
  unjoinable: new Counter({
    name: 'switchyard_joiner_unjoinable_total',
    help: 'Prediction and feedback pairs that met but gave no joined event, by deployment, variant and cause (spec-missing, prediction-error, unscorable, reward-out-of-range)',
    labelNames: ['deployment', 'variant', 'cause'] as const,
  }),
  feedbackUnmatched: new Counter({
    name: 'switchyard_joiner_feedback_unmatched_total',
    help: 'Feedback whose request had no prediction within the join window',
  }),
  predictionsUnlabelled: new Counter({
    name: 'switchyard_joiner_predictions_unlabelled_total',
    help: 'Predictions that got no feedback within the join window, by deployment, variant and role',
    labelNames: ['deployment', 'variant', 'role'] as const,
  }),
  pendingRefused: new Counter({
    name: 'switchyard_joiner_pending_refused_total',
    help: 'Predictions and feedback not stored because what the join state holds pending of their kind is at a limit (JOIN_MAX_PENDING*), sent to the DLQ, by kind (prediction, feedback)',
    labelNames: ['kind'] as const,
  }),
  rejected: new Counter({
    name: 'switchyard_joiner_rejected_total',
    help: 'Messages sent to the DLQ because they could not be parsed or validated, by topic (predictions, shadow-predictions, feedback)',
    labelNames: ['topic'] as const,
  }),
};
