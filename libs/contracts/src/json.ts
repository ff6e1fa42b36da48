/**
 * Deepest nesting of arrays and objects any JSON we read may have. Our events and specs
 * nest under ten levels and model tensors a handful; a label nested 8 000 deep (16 KiB)
 * overflowed the stack of the recursive walks after `JSON.parse` (validation, copying,
 * `JSON.stringify`), so depth is checked on the text, before anything recurses.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Largest JSON text read from Kafka or Redis. The broker refuses records past its
 * `message.max.bytes` (1 MiB by default); this bounds what a reader spends on one
 * whatever the broker was configured to take.
 */
export const MAX_JSON_BYTES = 8 * 1024 * 1024;

export interface JsonLimits {
  /** @default MAX_JSON_BYTES */
  maxBytes?: number;
  /** @default MAX_JSON_DEPTH */
  maxDepth?: number;
}

export type ParsedJson = { ok: true; value: unknown } | { ok: false; problems: string[] };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const isDigit = (code: number) => code >= 0x30 && code <= 0x39;
/** A double holds integers of up to 309 digits; a longer run may overflow to Infinity. */
const LONGEST_FINITE_DIGITS = 309;

/**
 * One pass over the text outside strings: the nesting depth (a problem past `maxDepth`)
 * and whether a number could overflow (an exponent, or a digit run too long for a
 * double), the only way JSON text yields a non-finite number. Iterative, so that no
 * input can exhaust the stack here.
 */
function scan(text: string, maxDepth: number): { problem?: string; mayOverflow: boolean } {
  let depth = 0;
  let inString = false;
  let digits = 0;
  let mayOverflow = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === BACKSLASH) i++;
      else if (code === QUOTE) inString = false;
      continue;
    }
    if (isDigit(code)) {
      if (++digits >= LONGEST_FINITE_DIGITS) mayOverflow = true;
      continue;
    }
    if ((code === 0x65 || code === 0x45) && digits > 0) mayOverflow = true;
    digits = 0;
    if (code === QUOTE) inString = true;
    else if (code === OPEN_ARRAY || code === OPEN_OBJECT) {
      if (++depth > maxDepth) return { problem: `nested deeper than ${maxDepth} levels`, mayOverflow };
    } else if (code === CLOSE_ARRAY || code === CLOSE_OBJECT) depth--;
  }
  return { mayOverflow };
}

/** Whether a parsed value (nested at most `maxDepth`, so the stack of this walk is bounded) holds only finite numbers. */
function allFinite(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length) {
    const next = pending.pop();
    if (typeof next === 'number') {
      if (!Number.isFinite(next)) return false;
    } else if (next !== null && typeof next === 'object') for (const child of Object.values(next)) pending.push(child);
  }
  return true;
}

/** A key, in any JSON spelling (escapes included), that could set a prototype where the value is merged into an object (the patterns of secure-json-parse, Fastify's JSON parser). */
const PROTO_KEY =
  /"(?:_|\\u005[Ff])(?:_|\\u005[Ff])(?:p|\\u0070)(?:r|\\u0072)(?:o|\\u006[Ff])(?:t|\\u0074)(?:o|\\u006[Ff])(?:_|\\u005[Ff])(?:_|\\u005[Ff])"\s*:/;
const CONSTRUCTOR_KEY =
  /"(?:c|\\u0063)(?:o|\\u006[Ff])(?:n|\\u006[Ee])(?:s|\\u0073)(?:t|\\u0074)(?:r|\\u0072)(?:u|\\u0075)(?:c|\\u0063)(?:t|\\u0074)(?:o|\\u006[Ff])(?:r|\\u0072)"\s*:/;

/** Whether a parsed value holds a `__proto__` key, or a `constructor` object with a `prototype` key (Fastify refused both). */
function poisonsPrototypes(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length) {
    const next = pending.pop();
    if (next === null || typeof next !== 'object') continue;
    if (Object.hasOwn(next, '__proto__')) return true;
    const constructor = (next as { constructor?: unknown }).constructor;
    if (Object.hasOwn(next, 'constructor') && constructor !== null && typeof constructor === 'object' && Object.hasOwn(constructor, 'prototype')) return true;
    for (const child of Object.values(next)) pending.push(child);
  }
  return false;
}

/**
 * Parses untrusted JSON text, or answers why not (the problem completes "… is not valid
 * JSON: "); never throws, whatever the text. Refuses
 * text longer than `maxBytes` (checked before parsing), nested deeper than `maxDepth`
 * (checked on the text, before parsing) and numbers a double cannot hold (`1e400` would
 * be Infinity) and keys that set prototypes when merged: every value it answers is safe to
 * walk, copy, merge, validate and stringify.
 */
export function parseJson(text: string, limits: JsonLimits = {}): ParsedJson {
  const { maxBytes = MAX_JSON_BYTES, maxDepth = MAX_JSON_DEPTH } = limits;
  // A character is at most 3 bytes of UTF-8 (a surrogate pair: 4 for 2): the exact count only when in doubt.
  if (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes) return { ok: false, problems: [`larger than ${maxBytes} bytes`] };
  const { problem, mayOverflow } = scan(text, maxDepth);
  if (problem) return { ok: false, problems: [problem] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, problems: [(error as Error).message] };
  }
  if (mayOverflow && !allFinite(value)) return { ok: false, problems: ['a number is out of the range of a double (±1.8e308)'] };
  if ((PROTO_KEY.test(text) || CONSTRUCTOR_KEY.test(text)) && poisonsPrototypes(value))
    return { ok: false, problems: ['a "__proto__" key, or a "constructor" object with a "prototype" key, is not accepted'] };
  return { ok: true, value };
}

/** `parseJson` of bytes (a Kafka value; malformed UTF-8 reads as U+FFFD), bounded before they are decoded. */
export function parseJsonBytes(raw: Buffer | string, limits: JsonLimits = {}): ParsedJson {
  const maxBytes = limits.maxBytes ?? MAX_JSON_BYTES;
  if (typeof raw !== 'string' && raw.length > maxBytes) return { ok: false, problems: [`larger than ${maxBytes} bytes`] };
  return parseJson(raw.toString(), limits);
}
