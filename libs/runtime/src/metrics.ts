import { Controller, Get, Header, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, LabelValues, register } from 'prom-client';
import { BaseEnv } from './env';

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
 * `/metrics` on a port of its own (METRICS_PORT), and nothing else there: scraping can
 * then be opened to Prometheus without opening the API, and the API's port answers 404
 * for it. Closed last, so the final scrape of a draining process still answers.
 */
@Injectable()
export class MetricsServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(MetricsServer.name);
  private server?: Server;

  constructor(private readonly env: BaseEnv) {}

  /** The port it listens on (METRICS_PORT, or the one picked for 0). */
  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  async onApplicationBootstrap(): Promise<void> {
    const server = createServer((request, response) => {
      if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
        response.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"only GET /metrics is served on METRICS_PORT"}');
        return;
      }
      register.metrics().then(
        (text) => response.writeHead(200, { 'content-type': register.contentType }).end(text),
        (error: Error) => response.writeHead(500).end(error.message),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.env.METRICS_PORT, this.env.HOST, resolve);
    });
    this.server = server;
    this.logger.log(`metrics on http://${this.env.HOST}:${this.port}/metrics`);
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
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
