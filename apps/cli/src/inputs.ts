import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { usageError } from './errors';

/** What `tail` prints: the topics it knows, by the names an operator uses. */
export const TAIL_TOPICS = ['predictions', 'joined', 'dlq', 'decisions'] as const;

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw usageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** A deployment spec from a `.json`, `.yaml` or `.yml` file (anything else: JSON first, then YAML). */
export function parseSpecText(text: string, file: string): unknown {
  const yamlFirst = /\.ya?ml$/i.test(file);
  const attempts: [string, (t: string) => unknown][] = yamlFirst
    ? [['YAML', (t) => parseYaml(t)]]
    : /\.json$/i.test(file)
      ? [['JSON', (t) => JSON.parse(t)]]
      : [
          ['JSON', (t) => JSON.parse(t)],
          ['YAML', (t) => parseYaml(t)],
        ];
  let last = '';
  for (const [kind, parse] of attempts) {
    try {
      const value = parse(text);
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('the spec must be an object');
      return value;
    } catch (error) {
      last = `${kind}: ${(error as Error).message.split('\n')[0]}`;
    }
  }
  throw usageError(`${file} is not a valid deployment spec (${last})`);
}

export const readSpecFile = (file: string): unknown => parseSpecText(readText(file), file);

/** Feedback records from JSON lines (blank lines skipped); a bad line is named by its number. */
export function parseJsonLines(text: string, file: string): unknown[] {
  const records: unknown[] = [];
  text.split('\n').forEach((line, index) => {
    if (!line.trim()) return;
    try {
      records.push(JSON.parse(line));
    } catch (error) {
      throw usageError(`${file}:${index + 1} is not JSON (${(error as Error).message})`);
    }
  });
  if (!records.length) throw usageError(`${file} has no feedback records`);
  return records;
}

export const readJsonLines = (file: string): unknown[] => parseJsonLines(readText(file), file);

export function batches<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** `--policy '{"type":"single","variant":"v2"}'` or `--policy @policy.json` (YAML too). */
export function parsePolicy(argument: string): unknown {
  if (argument.startsWith('@')) return readSpecFile(argument.slice(1));
  try {
    const value = JSON.parse(argument);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('must be a JSON object');
    return value;
  } catch (error) {
    throw usageError(`--policy must be a JSON object or @file (${(error as Error).message}), e.g. --policy '{"type":"single","variant":"v2"}'`);
  }
}

export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw usageError(`${name} must be a positive integer, got "${value}"`);
    return n;
  };
}

export function isoTime(name: string) {
  return (value: string): string => {
    if (Number.isNaN(Date.parse(value))) throw usageError(`${name} must be an ISO-8601 time such as 2026-11-24T17:00:00Z, got "${value}"`);
    return value;
  };
}
