import { randomBytes } from 'node:crypto';
import { isInteger, isSafeNumber, parse } from 'lossless-json';

/**
 * JSON for Open Inference Protocol bodies, exact for INT64/UINT64 elements beyond 2^53.
 * JSON.parse rounds 9007199254740993 to …992; lossless-json keeps it, but parses several
 * times slower (≈ 6× on a 1 MB FP32 tensor), so it runs only on a body that holds an
 * integer literal of 16 digits or more (the shortest that can exceed 2^53). Such a
 * number becomes an ExactInteger, which oipStringify writes back digit for digit.
 */

/** Deepest nesting accepted: a tensor of rank 32 inside its request; deeper is refused before parsing. */
export const MAX_OIP_JSON_DEPTH = 40;

/** An integer literal of 16+ digits, as a JSON token (not the digits of a fraction, an exponent or a word). */
const LONG_INTEGER = /(?:^|[^\w.+-])-?\d{16,}(?![\d.eE])/;

// Unguessable, so a string a client sent can never be taken for one of these markers.
const NONCE = randomBytes(6).toString('hex');
const MARKER = `\u0000exact-${NONCE}:`;
/** The marker as JSON.stringify escapes it, inside its string. */
const MARKED = new RegExp(`"\\\\u0000exact-${NONCE}:(-?\\d+)"`, 'g');

/** An integer a JavaScript number cannot hold exactly, kept as its decimal text. */
export class ExactInteger {
  constructor(readonly text: string) {}

  /** Inside oipStringify, a marker it replaces by the digits; anywhere else (an event, a log), a string of them. */
  toJSON(): string {
    if (!stringifying) return this.text;
    marked = true;
    return MARKER + this.text;
  }

  toString(): string {
    return this.text;
  }
}

let stringifying = false;
// Whether the current oipStringify wrote a marker: searching a large text for one costs as much as writing it.
let marked = false;

export class OipJsonError extends Error {}

/** A body's JSON, big integers exact; throws OipJsonError (not JSON, nested deeper than MAX_OIP_JSON_DEPTH). */
export function oipParse(text: string): unknown {
  const depth = nestingDepth(text);
  if (depth > MAX_OIP_JSON_DEPTH) throw new OipJsonError(`JSON nests ${depth} levels deep; at most ${MAX_OIP_JSON_DEPTH} are accepted`);
  try {
    if (!LONG_INTEGER.test(text)) return JSON.parse(text);
    return parse(text, null, (number) => (isInteger(number) && !isSafeNumber(number) ? new ExactInteger(number) : Number(number)));
  } catch (error) {
    throw new OipJsonError(`body is not valid JSON: ${(error as Error).message}`);
  }
}

/** JSON text of an OIP body, with every ExactInteger written as the number it is. */
export function oipStringify(value: unknown): string {
  stringifying = true;
  marked = false;
  let text: string;
  try {
    text = JSON.stringify(value);
  } finally {
    stringifying = false;
  }
  return marked ? text.replace(MARKED, '$1') : text;
}

const STRUCTURE = /[[\]{}"]/g;

/**
 * Bracket depth outside strings, counted on the text so nothing recursive ever sees a
 * deeper body. A regular expression jumps between brackets and quotes, and indexOf to a
 * string's closing quote: ≈ 5× faster than reading every character of a numeric tensor.
 */
function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  STRUCTURE.lastIndex = 0;
  for (let match = STRUCTURE.exec(text); match !== null; match = STRUCTURE.exec(text)) {
    const c = match[0];
    if (c === '"') {
      const end = closingQuote(text, match.index + 1);
      if (end < 0) break;
      STRUCTURE.lastIndex = end + 1;
    } else if (c === '[' || c === '{') {
      if (++depth > deepest) deepest = depth;
    } else depth--;
  }
  return deepest;
}

/** Index of the quote that closes a string whose text starts at `from` (one not escaped by an odd run of backslashes); -1 if none. */
function closingQuote(text: string, from: number): number {
  for (let at = text.indexOf('"', from); at >= 0; at = text.indexOf('"', at + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === 92) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
  return -1;
}

const DIGITS = /^-?\d+$/;

/**
 * OIP tensors read back from an event: there an ExactInteger was written as a string of
 * its digits (`toJSON`), which an INT64 or UINT64 tensor cannot hold; those become
 * ExactIntegers again, so a shadow gets the number the primary got. Anything else is
 * returned as it is.
 */
export function reviveExactIntegers(tensors: unknown): unknown {
  if (!Array.isArray(tensors)) return tensors;
  return tensors.map((tensor: { datatype?: unknown; data?: unknown }) => {
    const wide = tensor?.datatype === 'INT64' || tensor?.datatype === 'UINT64';
    if (!wide || !Array.isArray(tensor.data) || !tensor.data.some((x) => typeof x === 'string' || Array.isArray(x))) return tensor;
    const revive = (items: unknown[]): unknown[] =>
      items.map((x) => (Array.isArray(x) ? revive(x) : typeof x === 'string' && DIGITS.test(x) ? new ExactInteger(x) : x));
    return { ...tensor, data: revive(tensor.data) };
  });
}
