/**
 * Most characters of an error body: a message made of what the client sent (a problem per
 * item of a large batch, a quoted value) must not answer megabytes (a 10.8 MB error once).
 */
export const MAX_ERROR_BODY_CHARS = 4096;
/** Most entries of a `problems` list in an error body; the message says how many there were. */
const MAX_PROBLEMS = 20;

/**
 * An error body within MAX_ERROR_BODY_CHARS: a JSON body keeps its shape, its `message`
 * (or OIP's `error`) cut with the number of characters left out, `problems` to its first
 * entries, each cut too; any other text is cut. A body within the bound is returned as it is.
 */
export function capErrorBody(payload: string, maxChars = MAX_ERROR_BODY_CHARS): string {
  if (payload.length <= maxChars) return payload;
  let body: unknown;
  try {
    body = JSON.parse(payload);
  } catch {
    return cut(payload, maxChars);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return cut(payload, maxChars);
  const fields = { ...(body as Record<string, unknown>) };
  // A quarter for the list, the rest for the message and the other fields.
  if (Array.isArray(fields.problems)) {
    const problems = fields.problems as unknown[];
    const each = Math.floor(maxChars / 4 / Math.min(problems.length, MAX_PROBLEMS));
    fields.problems = problems.slice(0, MAX_PROBLEMS).map((problem) => (typeof problem === 'string' ? cut(problem, each) : problem));
    if (problems.length > MAX_PROBLEMS) fields.problemsLeftOut = problems.length - MAX_PROBLEMS;
  }
  for (const field of ['message', 'error'] as const) {
    if (typeof fields[field] === 'string') fields[field] = cut(fields[field], Math.floor(maxChars / 2));
    else if (Array.isArray(fields[field])) fields[field] = cut((fields[field] as unknown[]).join('; '), Math.floor(maxChars / 2));
  }
  const capped = JSON.stringify(fields);
  return capped.length <= maxChars ? capped : JSON.stringify({ ...pick(fields, ['statusCode', 'error', 'message']), truncated: true });
}

function cut(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const note = `… (${text.length - maxChars} more characters)`;
  return text.slice(0, Math.max(0, maxChars - note.length)) + note;
}

function pick(fields: Record<string, unknown>, names: string[]): Record<string, unknown> {
  return Object.fromEntries(names.filter((name) => typeof fields[name] !== 'object').map((name) => [name, fields[name]]));
}
