import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

/** The built CLI (`npm run build`, or `scripts/ensure-build.sh` before the integration tests). */
export const CLI = join(__dirname, '..', '..', 'dist', 'apps', 'cli', 'src', 'main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `switchyard ...args` as a real process with `env` added to this one's. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 60000, cwd?: string): Promise<CliResult> {
  const child = startCli(args, env, cwd);
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk) => (stdout += chunk));
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`switchyard ${args.join(' ')} did not finish in ${timeoutMs} ms: ${stdout}${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function startCli(args: string[], env: Record<string, string | undefined> = {}, cwd?: string): ChildProcess {
  const merged: Record<string, string | undefined> = { ...process.env, ...env };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete merged[key];
  return spawn(process.execPath, [CLI, ...args], { env: merged, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}
