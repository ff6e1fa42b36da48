import { parseJson as parseBoundedJson } from '@switchyard/contracts';

/** A value in Redis that is not what its store writes (damaged, or written by an incompatible version): never served as if it were. */
export class UndecodableRecord extends Error {
  constructor(
    what: string,
    readonly problems: string[],
  ) {
    super(`${what} in Redis cannot be decoded: ${problems.join('; ')}`);
    this.name = 'UndecodableRecord';
  }
}

/** A value read from Redis as JSON (bounded, never throwing: `parseJson` of the contracts), or why not. */
export function parseJson(json: string): { ok: true; value: unknown } | { ok: false; problems: string[] } {
  const parsed = parseBoundedJson(json);
  return parsed.ok ? parsed : { ok: false, problems: parsed.problems.map((problem) => `not JSON: ${problem}`) };
}

/**
 * The JSON of an object whose every value is a number that passes `valid`, as a record
 * without a prototype (a variant may be named `constructor`); undefined when it is not one.
 */
export function decodeNumberRecord(json: string, valid: (value: number) => boolean): Record<string, number> | undefined {
  const parsed = parseJson(json);
  if (!parsed.ok || typeof parsed.value !== 'object' || parsed.value === null || Array.isArray(parsed.value)) return undefined;
  const record: Record<string, number> = Object.create(null);
  for (const [key, value] of Object.entries(parsed.value)) {
    if (typeof value !== 'number' || !valid(value)) return undefined;
    record[key] = value;
  }
  return record;
}
