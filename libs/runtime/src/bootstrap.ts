import 'reflect-metadata';
import { ArgumentsHost, Catch, DynamicModule, INestApplication, Module, Type } from '@nestjs/common';
import { BaseExceptionFilter, NestFactory } from '@nestjs/core';
import { throwError } from 'rxjs';
import { CustomTransportStrategy } from '@nestjs/microservices';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { ClassConstructor } from 'class-transformer';
import type { FastifyRequest } from 'fastify';
import { parseJsonBytes } from '@switchyard/contracts';
import { Logger } from 'nestjs-pino';
import { BaseEnv, envHelp, loadEnv } from './env';
import { capErrorBody } from './error-body';
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
  /** Paths whose bodies a reader of their own reads instead of `readJsonBody` (the Open Inference Protocol's `/v2`). */
  bodyReaders?: BodyReader[];
}

/** An HTTP error a body reader answers with: Fastify sends its status and message. */
class BodyError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads the body of a request to a path under `prefix` (the bytes Fastify read, up to
 * the service's MAX_BODY_BYTES): answers the value handlers get, or throws an error with a
 * `statusCode` (4xx) to refuse it.
 */
export interface BodyReader {
  prefix: string;
  read: (body: Buffer, request: FastifyRequest) => unknown;
}

const isJsonMediaType = (contentType: string | undefined): boolean => {
  const media = contentType?.split(';')[0].trim().toLowerCase();
  return media === 'application/json' || /^application\/[\w.!#$&^-]+\+json$/.test(media ?? '');
};

/**
 * How every service reads request bodies: JSON only (`application/json` or `+json`,
 * else 415, so that no cross-site form posts without a preflight), read by the bounded
 * parser every record is read with (deep nesting, non-finite numbers, prototype keys:
 * 400 with the reason, never a stack overflow and a 500).
 */
export function readJsonBody(body: Buffer, request: FastifyRequest): unknown {
  const contentType = request.headers['content-type'];
  if (contentType === undefined) throw new BodyError(415, 'the body must be JSON: send Content-Type: application/json');
  if (!isJsonMediaType(contentType)) throw new BodyError(415, `Content-Type ${contentType} is not accepted: send JSON with Content-Type: application/json`);
  const parsed = parseJsonBytes(body, { maxBytes: Infinity });
  if (!parsed.ok) throw new BodyError(400, `the body is not valid JSON: ${parsed.problems.join('; ')}`);
  return parsed.value;
}

/** Installs the body readers: `readers` for their paths, `readJsonBody` for the others. */
function readBodies(app: NestFastifyApplication, bodyLimit: number, readers: BodyReader[]): void {
  const fastify = app.getHttpAdapter().getInstance();
  const under = (url: string, prefix: string) => url === prefix || url.startsWith(`${prefix}/`) || url.startsWith(`${prefix}?`);
  fastify.removeAllContentTypeParsers();
  // '*' also takes a body sent without Content-Type, which Fastify would otherwise refuse with 415 and no word about JSON.
  fastify.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (request, body, done) => {
    const reader = readers.find(({ prefix }) => under(request.url, prefix))?.read ?? readJsonBody;
    try {
      done(null, reader(body as Buffer, request));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}

@Module({})
class ServiceRootModule {}

/**
 * Once the server starts closing, answers carry `Connection: close`: otherwise a client's
 * keep-alive connection that just got its answer holds the shutdown for the server's
 * keep-alive timeout (72 s by default). Every error body is capped (`capErrorBody`).
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
    done(null, reply.statusCode >= 400 && typeof payload === 'string' ? capErrorBody(payload) : payload);
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
  // Nest's body parsers (JSON, forms) are replaced by readBodies'.
  const app = await NestFactory.create<NestFastifyApplication>(root, new FastifyAdapter({ bodyLimit: env.MAX_BODY_BYTES }), {
    bufferLogs: true,
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  readBodies(app, env.MAX_BODY_BYTES, definition.bodyReaders ?? []);
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
