import { ClassConstructor, Exclude, plainToInstance, TransformationType } from 'class-transformer';
import type { MetadataStorage } from 'class-transformer/types/MetadataStorage';
import { Allow, getMetadataStorage, validateSync, ValidateBy, ValidationArguments, ValidationError, ValidationTypes } from 'class-validator';
import type { ValidationMetadata } from 'class-validator/types/metadata/ValidationMetadata';
import { JsonLimits, parseJsonBytes } from './json';

// class-transformer's decorator registry: public in its typings, not re-exported by its
// index (NestJS's mapped-types and swagger read it the same way).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const transformerMetadata = (require('class-transformer/cjs/storage') as { defaultMetadataStorage: MetadataStorage }).defaultMetadataStorage;

export type Validated<T> = { ok: true; value: T } | { ok: false; problems: string[] };

/** Flattens nested class-validator errors into `path: message` lines a user can act on. */
export function describeErrors(errors: ValidationError[], parent = ''): string[] {
  return errors.flatMap((error) => {
    const path = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.entries(error.constraints ?? {}).map(([kind, message]) => {
      const text = message.startsWith(error.property) ? `${path}${message.slice(error.property.length)}` : `${path}: ${message}`;
      return kind === ValidationTypes.WHITELIST ? `${text}${didYouMean(error.property, knownFields(error.target))}` : text;
    });
    return [...own, ...describeErrors(error.children ?? [], path)];
  });
}

/** The fields class-validator knows on `target`'s class: what an unknown field may have meant. */
function knownFields(target: object | undefined): string[] {
  if (!target) return [];
  return [
    ...new Set(
      getMetadataStorage()
        .getTargetValidationMetadatas(target.constructor, '', true, false)
        .map((m) => m.propertyName),
    ),
  ];
}

/**
 * " (did you mean `percent`?)" for `precent` among `known`, else "": the known name at the
 * least edit distance (optimal string alignment: a swap of two neighbours counts one),
 * compared without case, when it is at most 1, or 2 for a name of 5 letters or more.
 */
export function didYouMean(field: string, known: readonly string[]): string {
  const limit = field.length >= 5 ? 2 : 1;
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = editDistance(field.toLowerCase(), name.toLowerCase());
    if (distance <= limit && (!best || distance < best.distance)) best = { name, distance };
  }
  return best ? ` (did you mean \`${best.name}\`?)` : '';
}

/** Optimal string alignment distance (Damerau–Levenshtein without repeated edits of one substring). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/**
 * class-validator's words for a field that the class picked by a union's `type` (the field
 * `path` of `plain`: one class per type, class-transformer's discriminator) does not have,
 * in this API's: `explain`'s, else "does not apply"; none when the type names no class
 * (that problem is reported).
 */
export function unionFieldProblems(
  problems: string[],
  plain: unknown,
  path: string,
  types: readonly string[],
  explain: (field: string, type: unknown) => string | undefined = () => undefined,
): string[] {
  const type = (plain as Record<string, { type?: unknown } | null | undefined> | null)?.[path]?.type;
  const known = types.includes(type as string);
  return problems.flatMap((problem) => {
    const match = /^(\w+)\.(\w+): property \2 should not exist( \(did you mean `\w+`\?\))?$/.exec(problem);
    if (match?.[1] !== path) return [problem];
    if (!known) return [];
    const field = match[2];
    // An explanation says what the field is; a field that does not apply may be a typo of one that does.
    return [explain(field, type) ?? `${path}.${field} does not apply to ${path} ${type as string}${match[3] ?? ''}`];
  });
}

/** A free-form field (a label) whose JSON may not exceed `max` bytes: it is stored, joined and logged. */
export function MaxJsonBytes(max: number): PropertyDecorator {
  return ValidateBy({
    name: 'maxJsonBytes',
    constraints: [max],
    validator: {
      validate: (value: unknown) => value === undefined || Buffer.byteLength(JSON.stringify(value) ?? '') <= max,
      defaultMessage: (args) => `${args?.property} must be at most ${max} bytes of JSON`,
    },
  });
}

/**
 * An array of `min` to `max` finite numbers, checked whole: validatePlain's fast path
 * mirrors no `each` rule, and a prediction event is read on every hot path.
 */
export function FiniteNumbers(min: number, max: number): PropertyDecorator {
  return ValidateBy({
    name: 'finiteNumbers',
    constraints: [min, max],
    validator: {
      validate: (value: unknown) =>
        Array.isArray(value) && value.length >= min && value.length <= max && value.every((n) => typeof n === 'number' && Number.isFinite(n)),
      defaultMessage: (args) => `${args?.property} must be an array of ${min} to ${max} finite numbers`,
    },
  });
}

const OPAQUE_FIELDS = Symbol('opaque fields');

/**
 * A payload field (model inputs, outputs, tensor data) passed through as it came:
 * class-transformer would otherwise deep-copy it, which costs ~20 µs on a 4-number
 * request and tens of milliseconds on an image tensor. Other decorators on the field
 * (`@IsDefined`, `@IsArray`) still check it; without them it is merely allowed.
 */
export function Opaque(): PropertyDecorator {
  return (target, key) => {
    Allow()(target, key);
    Exclude({ toClassOnly: true })(target, key);
    const fields: (string | symbol)[] = Reflect.getOwnMetadata(OPAQUE_FIELDS, target.constructor) ?? [];
    Reflect.defineMetadata(OPAQUE_FIELDS, [...fields, key], target.constructor);
  };
}

function opaqueFields(cls: object): (string | symbol)[] {
  const own: (string | symbol)[] = Reflect.getOwnMetadata(OPAQUE_FIELDS, cls) ?? [];
  const parent = Object.getPrototypeOf(cls) as object | null;
  return parent && parent !== Function.prototype ? [...opaqueFields(parent), ...own] : own;
}

const isContractInstance = (v: unknown): v is object =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) !== Object.prototype;

/** Puts back the opaque fields that plainToInstance left out, at every nesting level. */
function restoreOpaque(instance: object, plain: unknown): void {
  if (plain === null || typeof plain !== 'object') return;
  const source = plain as Record<string | symbol, unknown>;
  const target = instance as Record<string | symbol, unknown>;
  for (const [key, child] of Object.entries(target)) {
    const from = source[key];
    if (Array.isArray(child) && Array.isArray(from)) child.forEach((c, i) => isContractInstance(c) && restoreOpaque(c, from[i]));
    else if (isContractInstance(child)) restoreOpaque(child, from);
  }
  for (const key of opaqueFields(instance.constructor)) if (Object.hasOwn(source, key)) target[key] = source[key];
}

const flatness = new WeakMap<object, boolean>();

/**
 * A contract whose fields need no class-transformer work (no @Type, @Transform or @Expose:
 * every event on the hot paths). plainToInstance still walks and copies every key with
 * per-key metadata lookups; for these classes that was ~7 % of the joiner's CPU and half
 * the allocation of its validation (allocation profile), for the same instance.
 */
function isFlat(cls: ClassConstructor<object>): boolean {
  let flat = flatness.get(cls);
  if (flat === undefined) {
    const fields = new Set(
      getMetadataStorage()
        .getTargetValidationMetadatas(cls, '', true, false)
        .map((m) => m.propertyName),
    );
    flat =
      transformerMetadata.getStrategy(cls) === 'none' &&
      [...fields].every(
        (field) =>
          !transformerMetadata.findTypeMetadata(cls, field) &&
          !transformerMetadata.findExposeMetadata(cls, field) &&
          !transformerMetadata.findTransformMetadatas(cls, field, TransformationType.PLAIN_TO_CLASS).length,
      );
    flatness.set(cls, flat);
  }
  return flat;
}

/** What plainToInstance makes of a flat contract, without the copying: the same keys, skipping the two it skips too. */
function shallowInstance<T extends object>(cls: ClassConstructor<T>, plain: Record<string, unknown>): T {
  const value = new cls() as Record<string, unknown>;
  for (const key of Object.keys(plain)) if (key !== '__proto__' && key !== 'constructor') value[key] = plain[key];
  return value as T;
}

/** One property's rules, as validateSync applies them with the options validatePlain gives it. */
interface PropertyRules {
  property: string;
  /** @IsOptional and @ValidateIf: any of them false skips the property. */
  conditions: ((object: object, value: unknown) => boolean)[];
  /** @IsDefined first, then every other constraint, each with its validator instances. */
  checks: { metadata: ValidationMetadata; validators: { validate(value: unknown, args: ValidationArguments): unknown }[] }[];
}

const acceptors = new WeakMap<object, ((value: object) => boolean) | null>();

/**
 * A check that answers true only for an instance validateSync (whitelist, forbidding
 * others) finds no error in, by calling the same validator instances with the same
 * arguments, without building an error per property: class-validator's own walk (metadata
 * lookups, an error object per property, then stripping the empty ones) was a fifth of
 * the joiner's CPU. False means "not sure": validatePlain then runs validateSync, which
 * decides and words the problems. `null` for a class with rules this does not mirror
 * (nested or promise validation, `each`, async validators): validateSync alone.
 */
function acceptorOf(cls: ClassConstructor<object>): ((value: object) => boolean) | null {
  if (acceptors.has(cls)) return acceptors.get(cls)!;
  const storage = getMetadataStorage();
  const metadatas = storage.getTargetValidationMetadatas(cls, '', false, false);
  const byProperty = storage.groupByPropertyName(metadatas);
  const rules: PropertyRules[] = [];
  let mirrored = metadatas.length > 0;
  for (const [property, own] of Object.entries(byProperty)) {
    const conditions = own.filter((m) => m.type === ValidationTypes.CONDITIONAL_VALIDATION).map((m) => m.constraints[0] as PropertyRules['conditions'][0]);
    const ordered = [...own.filter((m) => m.type === ValidationTypes.IS_DEFINED), ...own.filter((m) => m.type === ValidationTypes.CUSTOM_VALIDATION)];
    const known = new Set<string>([
      ValidationTypes.CONDITIONAL_VALIDATION,
      ValidationTypes.IS_DEFINED,
      ValidationTypes.CUSTOM_VALIDATION,
      ValidationTypes.WHITELIST,
    ]);
    if (own.some((m) => !known.has(m.type) || m.each)) mirrored = false;
    const checks = ordered.map((metadata) => {
      const constraints = storage.getTargetValidatorConstraints(metadata.constraintCls);
      if (constraints.some((c) => c.async)) mirrored = false;
      return { metadata, validators: constraints.map((c) => c.instance as PropertyRules['checks'][0]['validators'][0]) };
    });
    rules.push({ property, conditions, checks });
  }
  const acceptor = mirrored
    ? (object: object): boolean => {
        const record = object as Record<string, unknown>;
        for (const key of Object.keys(record)) if (!byProperty[key]?.length) return false;
        for (const { property, conditions, checks } of rules) {
          const value = record[property];
          if (!conditions.every((condition) => condition(object, value))) continue;
          for (const { metadata, validators } of checks) {
            if (metadata.validateIf && !metadata.validateIf(object, value)) continue;
            const args: ValidationArguments = { targetName: cls.name, property: metadata.propertyName, object, value, constraints: metadata.constraints };
            for (const validator of validators) if (validator.validate(value, args) !== true) return false;
          }
        }
        return true;
      }
    : null;
  acceptors.set(cls, acceptor);
  return acceptor;
}

/**
 * Turns untrusted plain data into a validated contract instance. Used for HTTP bodies
 * and Kafka payloads alike, so both reject the same things with the same words. Never
 * throws: a value a validator cannot handle is refused with what it threw. Plain data from
 * `parseJson` is nested at most MAX_JSON_DEPTH deep, which the recursive walks here need.
 */
export function validatePlain<T extends object>(cls: ClassConstructor<T>, plain: unknown): Validated<T> {
  if (plain === null || typeof plain !== 'object' || Array.isArray(plain)) {
    return { ok: false, problems: ['body must be a JSON object'] };
  }
  try {
    let value: T;
    if (isFlat(cls)) value = shallowInstance(cls, plain as Record<string, unknown>);
    else {
      value = plainToInstance(cls, plain);
      restoreOpaque(value, plain);
    }
    if (acceptorOf(cls)?.(value)) return { ok: true, value };
    const errors = validateSync(value as object, { whitelist: true, forbidNonWhitelisted: true });
    return errors.length ? { ok: false, problems: describeErrors(errors) } : { ok: true, value };
  } catch (error) {
    return { ok: false, problems: [`cannot be validated: ${(error as Error).message}`] };
  }
}

/**
 * The one way a record is read: bytes (a Kafka value, a stored event) into a validated
 * contract instance or the reasons it is refused; never throws, whatever the bytes. Every
 * consumer, every rebuild and the CLI read through this, so a record the live path
 * dead-letters is one a rebuild skips, never one it chokes on.
 */
export function parseAndValidate<T extends object>(cls: ClassConstructor<T>, raw: Buffer | string | null, limits?: JsonLimits): Validated<T> {
  if (raw === null) return { ok: false, problems: ['message has no value'] };
  const parsed = parseJsonBytes(raw, limits);
  if (!parsed.ok) return { ok: false, problems: parsed.problems.map((problem) => `value is not valid JSON: ${problem}`) };
  return validatePlain(cls, parsed.value);
}
