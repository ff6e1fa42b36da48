import { Counter, Histogram } from 'prom-client';

export const routerMetrics = {
  predictions: new Counter({
    name: 'switchyard_router_predictions_total',
    help: 'Predictions answered, by deployment, serving variant and outcome (ok, error, rejected: inputs every arm tried refused)',
    labelNames: ['deployment', 'variant', 'outcome'] as const,
  }),
  latency: new Histogram({
    name: 'switchyard_router_model_latency_seconds',
    help: 'Model call latency seen by the router, by deployment and variant',
    labelNames: ['deployment', 'variant'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  }),
  modelErrors: new Counter({
    name: 'switchyard_router_model_errors_total',
    help: 'Failed model calls, by deployment, variant and kind (timeout, unavailable, server-error, rejected, bad-response)',
    labelNames: ['deployment', 'variant', 'kind'] as const,
  }),
  fallbacks: new Counter({
    name: 'switchyard_router_fallbacks_total',
    help: 'Requests answered by a fallback variant after the chosen one failed',
    labelNames: ['deployment', 'from', 'to'] as const,
  }),
  publishFailures: new Counter({
    name: 'switchyard_router_publish_failures_total',
    help: 'Events the router could not publish to Kafka, by topic',
    labelNames: ['topic'] as const,
  }),
  requestIdsUnchecked: new Counter({
    name: 'switchyard_router_request_ids_unchecked_total',
    help: 'Predictions with a client request id served without the uniqueness check, Redis having failed to answer',
    labelNames: ['deployment'] as const,
  }),
  refusedCalls: new Counter({
    name: 'switchyard_router_refused_variant_calls_total',
    help: 'Calls not made because the variant URL is outside the allowlist (a spec that did not come through PUT)',
    labelNames: ['deployment', 'variant'] as const,
  }),
  specsSkipped: new Counter({
    name: 'switchyard_router_specs_skipped_total',
    help: 'Specs read from the registry and not served: a variant URL outside the allowlist (written past PUT, straight to the spec log)',
    labelNames: ['deployment'] as const,
  }),
  loops: new Counter({
    name: 'switchyard_router_loops_refused_total',
    help: 'Predictions refused because a router sent them (switchyard-hop header): a variant URL pointing back into a router',
  }),
  grpcCalls: new Counter({
    name: 'switchyard_router_grpc_calls_total',
    help: 'Calls to the Open Inference Protocol gRPC service (GRPC_PORT), by RPC and status code (OK, INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE, ...)',
    labelNames: ['rpc', 'code'] as const,
  }),
  grpcLatency: new Histogram({
    name: 'switchyard_router_grpc_call_seconds',
    help: 'Time the router took to answer a gRPC call, by RPC',
    labelNames: ['rpc'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  }),
  eventsTrimmed: new Counter({
    name: 'switchyard_router_events_trimmed_total',
    help: 'Prediction events published without their outputs (outputsTrimmed), which even summarized would have been larger than a Kafka record',
    labelNames: ['deployment'] as const,
  }),
  shadowsSkipped: new Counter({
    name: 'switchyard_router_shadows_skipped_total',
    help: 'Requests of a shadow deployment not mirrored to its shadows, by reason (binary-too-large: binary inputs past what a Kafka record carries; event-too-large: the shadow request as JSON past it)',
    labelNames: ['deployment', 'reason'] as const,
  }),
  rejected: new Counter({
    name: 'switchyard_router_rejected_total',
    help: 'Inputs refused before reaching Kafka or a model, by route',
    labelNames: ['route'] as const,
  }),
};
