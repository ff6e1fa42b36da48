import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiError, unreachable } from './errors';

export const DEFAULT_URL = 'http://127.0.0.1:3000';

/** The admin key: `ADMIN_API_KEY`, else the first line of `.switchyard/admin-key` in the working directory. */
export function adminKey(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string | undefined {
  if (env.ADMIN_API_KEY) return env.ADMIN_API_KEY;
  const file = join(cwd, '.switchyard', 'admin-key');
  if (!existsSync(file)) return undefined;
  const key = readFileSync(file, 'utf8').split('\n')[0].trim();
  return key || undefined;
}

/** The router's message from an error body: `{message, problems}` as the router answers, or the raw text. */
export function serverMessage(status: number, body: unknown): string {
  if (body && typeof body === 'object') {
    const { message, problems } = body as { message?: unknown; problems?: unknown };
    if (Array.isArray(problems) && problems.length && typeof message === 'string' && !problems.every((p) => message.includes(String(p)))) {
      return `${message}: ${problems.join('; ')}`;
    }
    if (typeof message === 'string') return message;
    if (Array.isArray(message)) return message.join('; ');
  }
  return typeof body === 'string' && body ? body : `HTTP ${status}`;
}

/** The router's HTTP API: JSON in and out, errors turned into exit codes. */
export class RouterApi {
  readonly url: string;

  constructor(
    url: string,
    private readonly key?: string,
    private readonly timeoutMs = 15000,
  ) {
    this.url = url.replace(/\/+$/, '');
  }

  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.key) headers.authorization = `Bearer ${this.key}`;
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      // fetch's own error says only "fetch failed"; the socket's code or message is in a cause.
      // Loaded only here: the messaging library brings Kafka with it (a slow start for every command).
      const { causeChain } = await import('@switchyard/messaging');
      const [failure, ...causes] = causeChain(error);
      const why = causes.find((cause) => typeof cause.code === 'string')?.code ?? causes[0]?.message ?? failure?.message;
      throw unreachable(`router not reachable at ${this.url} (${why}): start it with npm run up, or pass --url / set SWITCHYARD_URL`);
    }
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON: keep the text for the message.
    }
    if (!response.ok) {
      const hint =
        response.status === 401
          ? ' (set ADMIN_API_KEY or write the key to .switchyard/admin-key)'
          : response.status === 404 && path.endsWith('/evaluate')
            ? ' (this router has no evaluate endpoint yet, or the deployment does not exist)'
            : '';
      throw apiError(`${method} ${path}: ${response.status} ${serverMessage(response.status, parsed)}${hint}`);
    }
    return parsed as T;
  }
}
