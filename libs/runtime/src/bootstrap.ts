import 'reflect-metadata';
import { ArgumentsHost, Catch, DynamicModule, INestApplication, Module, Type } from '@nestjs/common';
import { BaseExceptionFilter, NestFactory } from '@nestjs/core';
import { throwError } from 'rxjs';
import { CustomTransportStrategy } from '@nestjs/microservices';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { ClassConstructor } from 'class-transformer';
import { Logger } from 'nestjs-pino';
import { BaseEnv, envHelp, loadEnv } from './env';
import { startDefaultMetrics } from './metrics';
import { RuntimeModule } from './runtime.module';

export interface ServiceDefinition<E extends BaseEnv> {
  name: string;
  /** First line of `--help`. */
  summary: string;
  envClass: ClassConstructor<E>;
  module: (env: E) => Type | DynamicModule;
  /** Kafka consumers, as a NestJS microservice transport built once the app is wired. */
  consumers?: (app: INestApplication, env: E) => CustomTransportStrategy | undefined;
  /** Extra HTTP wiring before the app initialises (the router's OpenAPI document and Swagger UI). */
  configure?: (app: NestFastifyApplication, env: E) => void;
}

@Module({})
class ServiceRootModule {}

/**
 * Once the server starts closing, answers carry `Connection: close`: otherwise a client's
 * keep-alive connection that just got its answer holds the shutdown for the server's
 * keep-alive timeout (72 s by default).
 */
function closeConnectionsWhenClosing(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance();
  let closing = false;
  fastify.addHook('preClose', async () => {
    closing = true;
  });
  // Callback style: an async hook would cost a promise on every answer.
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
}

/**
 * Hands a consumer handler's error to the consumer transport as it was thrown: Nest's
 * default RPC filter would replace it with `{message: 'Internal server error'}`, and the
 * transport classifies failures by the error's type (transient or poison). HTTP errors
 * get Nest's default handling, exactly as without this filter.
 */
@Catch()
export class KeepConsumerErrors extends BaseExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost) {
    if (host.getType() === 'rpc') return throwError(() => exception);
    return super.catch(exception, host);
  }
}

/** Builds the Nest application of a service without listening, so tests can embed it. */
export async function createService<E extends BaseEnv>(definition: ServiceDefinition<E>, env: E): Promise<NestFastifyApplication> {
  startDefaultMetrics(definition.name);
  const root: DynamicModule = {
    module: ServiceRootModule,
    imports: [RuntimeModule.forRoot(definition.name, env), definition.module(env)],
  };
  const app = await NestFactory.create<NestFastifyApplication>(root, new FastifyAdapter({ bodyLimit: env.MAX_BODY_BYTES }), {
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  closeConnectionsWhenClosing(app);
  // Exit 0 once hooks have run, instead of re-raising the signal (exit 143).
  app.enableShutdownHooks(undefined, { useProcessExit: true });
  definition.configure?.(app, env);
  const consumers = definition.consumers?.(app, env);
  if (consumers) {
    app.useGlobalFilters(new KeepConsumerErrors(app.getHttpAdapter()));
    app.connectMicroservice({ strategy: consumers }, { inheritAppConfig: true });
  }
  await app.init();
  await app.startAllMicroservices();
  return app;
}

/** `main.ts` of every service: `--help`, validated environment, start, log where it listens. */
export async function runService<E extends BaseEnv>(definition: ServiceDefinition<E>): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${definition.name}: ${definition.summary}\n\nConfigured by environment variables:\n${envHelp(definition.envClass)}\n`);
    return;
  }
  let env: E;
  try {
    env = loadEnv(definition.envClass);
  } catch (error) {
    process.stderr.write(`${definition.name}: ${(error as Error).message}\n`);
    process.exit(2);
  }
  const app = await createService(definition, env);
  await app.listen(env.PORT, env.HOST);
  app.get(Logger).log(`${definition.name} ready on http://${env.HOST}:${env.PORT}`, 'Bootstrap');
}
