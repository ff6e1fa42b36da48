import { Controller, Get, Header } from '@nestjs/common';
import { collectDefaultMetrics, Counter, LabelValues, register } from 'prom-client';

let started = false;

/**
 * Records a reader skipped as not valid, by reader and topic: a rebuild (the live consumer
 * dead-lettered the same record), the spec log's fold, the registry's reads.
 */
export const recordsSkipped = new Counter({
  name: 'switchyard_records_skipped_total',
  help: 'Records a rebuild or reader skipped because they are not valid (the live consumers dead-letter the same records; the spec log and the registry skip a spec that fails validation), by reader and topic',
  labelNames: ['reader', 'topic'],
});

/** Process metrics (CPU, memory, event-loop lag) once per process, labelled by service. */
export function startDefaultMetrics(service: string): void {
  if (started) return;
  started = true;
  register.setDefaultLabels({ service });
  collectDefaultMetrics();
}

@Controller()
export class MetricsController {
  @Get('metrics')
  @Header('content-type', register.contentType)
  metrics(): Promise<string> {
    return register.metrics();
  }
}

/**
 * Adds one to `counter` per item, with the labels `labelsOf` gives it, in one `inc` per
 * distinct label set: prom-client hashes the labels on every call, which per event on a
 * batch of thousands cost more than the counting.
 */
export function countEach<T extends string, I>(counter: Counter<T>, items: Iterable<I>, labelsOf: (item: I) => Record<T, string>): void {
  const counts = new Map<string, { labels: Record<T, string>; n: number }>();
  for (const item of items) {
    const labels = labelsOf(item);
    const key = Object.values(labels).join('\0');
    const entry = counts.get(key);
    if (entry) entry.n++;
    else counts.set(key, { labels, n: 1 });
  }
  for (const { labels, n } of counts.values()) counter.inc(labels as LabelValues<T>, n);
}
