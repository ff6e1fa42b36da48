import { ChildProcess, spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { serviceLogFile } from './logs';
import { waitFor } from './wait';

const ROOT = join(__dirname, '..', '..');

export interface ServiceProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/** Starts a built service (`npm test` builds first) as a real process and waits until it is ready; its output also goes to its log file. */
export async function spawnService(app: string, port: number, env: Record<string, string>): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'apps', app, 'src', 'main.js')], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logFile = serviceLogFile(`${app}-${port}`);
  mkdirSync(dirname(logFile), { recursive: true });
  const log = createWriteStream(logFile, { flags: 'a' });
  let output = '';
  const keep = (chunk: Buffer) => {
    output += chunk;
    log.write(chunk);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.once('close', () => log.end());
  const url = `http://127.0.0.1:${port}`;
  const died = exited.then((code) => Promise.reject(new Error(`${app} exited with ${code}: ${output.slice(-2000)}\n(log: ${logFile})`)));
  const dead = new AbortController();
  void exited.then(() => dead.abort());
  const ready = waitFor(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.ok, {
    timeoutMs: 60000,
    what: `${app} to be ready`,
    signal: dead.signal,
  });
  await Promise.race([died, ready]);
  died.catch(() => undefined);
  ready.catch(() => undefined);
  return { child, url, output: () => output, exited };
}

/** A port unlikely to be taken: tests spawn real processes that need a fixed one. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}
