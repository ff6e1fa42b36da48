import { AddressInfo } from 'node:net';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { BaseEnv, createService, loadEnv, ServiceDefinition } from '@switchyard/runtime';
import { openSpecLog, OpenSpecLog } from '@switchyard/spec-log';
import { serviceLogFile } from './logs';

export interface RunningService {
  app: NestFastifyApplication;
  url: string;
  close: () => Promise<void>;
}

/** The environment of a service in this process: the test's, logging to the test file's log of in-process services. */
function inProcessEnv(overrides: Record<string, string>): Record<string, string | undefined> {
  return { ...process.env, LOG_LEVEL: 'info', LOG_FILE: serviceLogFile('in-process'), ...overrides };
}

/**
 * Runs a service in this process on a free port, configured exactly as its `main.ts`
 * would be from the environment (plus `overrides`): same modules, real Kafka and Redis.
 */
export async function startService<E extends BaseEnv>(definition: ServiceDefinition<E>, overrides: Record<string, string> = {}): Promise<RunningService> {
  const env = loadEnv(definition.envClass, { ...inProcessEnv(overrides), PORT: '0', HOST: '127.0.0.1' });
  const app = await createService(definition, env);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  // Once only: a test that restarts a service closes it itself, and its stack closes it again.
  let closed: Promise<void> | undefined;
  return { app, url: `http://127.0.0.1:${port}`, close: () => (closed ??= app.close()) };
}

/** A spec-log writer for tests that run no router (the services under test only read specs). */
export function testSpecLog(overrides: Record<string, string> = {}): Promise<OpenSpecLog> {
  return openSpecLog(loadEnv(BaseEnv, inProcessEnv(overrides)));
}

/**
 * A JSON call; it carries the run's admin key (ADMIN_API_KEY, set by globalSetup) unless
 * `headers.authorization` says otherwise (`''` sends none).
 */
export async function http(method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const key = process.env.ADMIN_API_KEY?.split(',')[0];
  const auth: Record<string, string> = headers.authorization === undefined && key ? { authorization: `Bearer ${key}` } : {};
  const response = await fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...auth, ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  return { status: response.status, body: json, headers: Object.fromEntries(response.headers) };
}
