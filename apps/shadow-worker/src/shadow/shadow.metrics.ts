import { Counter, Histogram } from 'prom-client';

export const shadowMetrics = {
  predictions: new Counter({
    name: 'switchyard_shadow_predictions_total',
    help: 'Shadow predictions published, by deployment, shadow variant and outcome (ok, error)',
    labelNames: ['deployment', 'variant', 'outcome'] as const,
  }),
  agreement: new Counter({
    name: 'switchyard_shadow_agreement_total',
    help: 'Shadow answers compared with the primary answer (at the reward outputPath), by deployment, shadow variant and agree (true, false)',
    labelNames: ['deployment', 'variant', 'agree'] as const,
  }),
  latency: new Histogram({
    name: 'switchyard_shadow_model_latency_seconds',
    help: 'Shadow model call latency, by deployment and variant',
    labelNames: ['deployment', 'variant'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  }),
  eventsTrimmed: new Counter({
    name: 'switchyard_shadow_events_trimmed_total',
    help: 'Shadow prediction events published without their outputs (outputsTrimmed), which even summarized would have been larger than a Kafka record',
    labelNames: ['deployment'] as const,
  }),
  rejected: new Counter({
    name: 'switchyard_shadow_rejected_total',
    help: 'Shadow requests sent to the DLQ because they could not be parsed or validated',
  }),
};
