import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/** Installs a Debian package when `path` is missing (as root; else fails saying what to run). */
export function ensureDebianPackage(path: string, pkg: string): void {
  try {
    execFileSync('bash', [join(ROOT, 'scripts', 'ensure-debian-package.sh'), path, pkg], { stdio: ['ignore', 'inherit', 'pipe'], timeout: 15 * 60 * 1000 });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`${path} is needed and could not be installed: ${stderr.trim() || (error as Error).message}`);
  }
}
