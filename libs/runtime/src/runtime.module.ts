import { BeforeApplicationShutdown, DynamicModule, Global, Injectable, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import pino from 'pino';
import { BaseEnv } from './env';
import { HealthController, HealthRegistry } from './health';
import { MetricsController, MetricsServer } from './metrics';

/** Injection token of the service's name (Kafka client id, metric label, log field). */
export const SERVICE_NAME = Symbol('SERVICE_NAME');

@Injectable()
class DrainOnShutdown implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('Shutdown');

  constructor(private readonly health: HealthRegistry) {}

  beforeApplicationShutdown(signal?: string): void {
    this.health.drain();
    this.logger.log({ signal }, 'draining: finishing in-flight requests and batches');
  }

  onApplicationShutdown(signal?: string): void {
    this.logger.log({ signal }, 'stopped');
  }
}

/**
 * What every Switchyard process shares: its validated environment (injectable as
 * `BaseEnv` and as its own class), structured logs, `/healthz`, `/readyz`, `/metrics` (on
 * PORT, or on METRICS_PORT).
 */
@Global()
@Module({})
export class RuntimeModule {
  static forRoot(service: string, env: BaseEnv): DynamicModule {
    const logOptions = {
      level: env.LOG_LEVEL,
      base: { service, pid: process.pid },
      // Per-request lines cost throughput on the hot path; errors are logged where they happen.
      autoLogging: false,
    };
    const envProviders = [{ provide: BaseEnv, useValue: env }, ...(env.constructor === BaseEnv ? [] : [{ provide: env.constructor, useValue: env }])];
    return {
      module: RuntimeModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: env.LOG_FILE ? [logOptions, pino.destination({ dest: env.LOG_FILE, mkdir: true })] : logOptions,
          // No per-request middleware either: a child logger per request and the
          // AsyncLocalStorage context it runs in cost the router ~10% of its throughput
          // (CPU profile). Lines carry the ids that matter (requestId, deployment) themselves.
          forRoutes: [],
        }),
      ],
      // /metrics on PORT, or on a port of its own (METRICS_PORT).
      controllers: env.METRICS_PORT === undefined ? [HealthController, MetricsController] : [HealthController],
      providers: [
        { provide: SERVICE_NAME, useValue: service },
        HealthRegistry,
        DrainOnShutdown,
        ...envProviders,
        ...(env.METRICS_PORT === undefined ? [] : [MetricsServer]),
      ],
      exports: [SERVICE_NAME, HealthRegistry, ...envProviders],
    };
  }
}
