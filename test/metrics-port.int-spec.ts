import { MetricsServer } from '@switchyard/runtime';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { RunningService, startService } from './support/services';

/**
 * METRICS_PORT (issue #25): /metrics served on a port of its own, so scraping can be opened
 * without opening the API. Every service shares this from libs/runtime; the model-server
 * needs neither Kafka nor Redis to show it.
 */
describe('metrics on a port of their own', () => {
  let service: RunningService | undefined;

  afterEach(async () => {
    await service?.close();
    service = undefined;
  });

  it('serves /metrics on METRICS_PORT only, and not on the API port', async () => {
    service = await startService(modelServerService, { METRICS_PORT: '0' });
    const port = service.app.get(MetricsServer).port;
    expect(port).toEqual(expect.any(Number));

    const scraped = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(scraped.status).toBe(200);
    expect(scraped.headers.get('content-type')).toContain('text/plain');
    expect(await scraped.text()).toContain('process_cpu_seconds_total{service="model-server"}');
    expect((await fetch(`http://127.0.0.1:${port}/v2/health/ready`)).status).toBe(404);

    expect((await fetch(`${service.url}/metrics`)).status).toBe(404);
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);

    await service.close();
    service = undefined;
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  it('serves /metrics on the API port when METRICS_PORT is unset', async () => {
    service = await startService(modelServerService);
    expect((await fetch(`${service.url}/metrics`)).status).toBe(200);
  });
});
