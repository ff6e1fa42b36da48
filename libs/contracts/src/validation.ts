import { plainToInstance, ClassConstructor } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';

export type Validated<T> = { ok: true; value: T } | { ok: false; problems: string[] };

/** Flattens nested class-validator errors into `path: message` lines a user can act on. */
export function describeErrors(errors: ValidationError[], parent = ''): string[] {
  return errors.flatMap((error) => {
    const path = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) =>
      message.startsWith(error.property) ? `${path}${message.slice(error.property.length)}` : `${path}: ${message}`,
    );
    return [...own, ...describeErrors(error.children ?? [], path)];
  });
}

/**
 * Turns untrusted plain data into a validated contract instance. Used for HTTP bodies
 * and Kafka payloads alike, so both reject the same things with the same words.
 */
export function validatePlain<T extends object>(cls: ClassConstructor<T>, plain: unknown): Validated<T> {
  if (plain === null || typeof plain !== 'object' || Array.isArray(plain)) {
    return { ok: false, problems: ['body must be a JSON object'] };
  }
  const value = plainToInstance(cls, plain);
  const errors = validateSync(value as object, { whitelist: true, forbidNonWhitelisted: true });
  return errors.length ? { ok: false, problems: describeErrors(errors) } : { ok: true, value };
}

/** Parses bytes (a Kafka value) as JSON then validates; the problem says which step failed. */
export function parseAndValidate<T extends object>(cls: ClassConstructor<T>, raw: Buffer | string | null): Validated<T> {
  if (raw === null) return { ok: false, problems: ['message has no value'] };
  let plain: unknown;
  try {
    plain = JSON.parse(raw.toString());
  } catch (error) {
    return { ok: false, problems: [`value is not valid JSON: ${(error as Error).message}`] };
  }
  return validatePlain(cls, plain);
}
