import 'reflect-metadata';
import fc from 'fast-check';
import { FeedbackEvent, JoinedEvent, PredictionEvent, SpecChangeEvent } from './events';
import { MAX_JSON_DEPTH, parseJson, parseJsonBytes } from './json';
import { parseAndValidate, validatePlain } from './validation';

const nested = (depth: number, open: string, close: string, inner = '1') => open.repeat(depth) + inner + close.repeat(depth);
const CLASSES = [FeedbackEvent, PredictionEvent, JoinedEvent, SpecChangeEvent] as const;

/** Numbers and strings that have broken readers and scripts, as JSON text. */
const HOSTILE_NUMBERS = [
  '1e200',
  '1e308',
  '1.7976931348623157e308',
  '-1e308',
  '-0',
  '0e0',
  '5e-324',
  '1e-400',
  '1E+2',
  '-1.5e-7',
  '123456789012345678901234567890',
];
const HOSTILE_TEXT = [
  '1e400',
  '-1e400',
  '1' + '0'.repeat(400),
  'NaN',
  'Infinity',
  '-Infinity',
  '"NaN"',
  '"1e200"',
  '[]',
  '{}',
  'null',
  'true',
  '"x"',
  '[1e200]',
];

describe(parseJson.name, () => {
  it('answers what JSON.parse answers for JSON within its limits', () => {
    fc.assert(
      fc.property(fc.json({ depthSize: 'small' }), (text) => {
        expect(parseJson(text)).toEqual({ ok: true, value: JSON.parse(text) });
      }),
    );
  });

  it('never throws on any text or bytes, and answers a reason when it refuses', () => {
    const answer = (result: ReturnType<typeof parseJson>) => expect(result.ok || result.problems.length > 0).toBe(true);
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (text) => answer(parseJson(text))));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => answer(parseJsonBytes(Buffer.from(bytes)))));
    // Mostly brackets, quotes and digits: the scanner's states, not just its first refusal.
    const tokens = fc.constantFrom('[', ']', '{', '}', '"', '\\', ':', ',', '1', 'e', '-', '.', ' ', 'x', '9'.repeat(320));
    fc.assert(fc.property(fc.array(tokens, { maxLength: 400 }), (parts) => answer(parseJson(parts.join('')))));
  });

  it.each([
    ['arrays', '[', ']'],
    ['objects', '{"a":', '}'],
  ])('refuses %s nested past the limit before parsing (8 000 deep: no stack overflow), and takes them at it', (_, open, close) => {
    expect(parseJson(nested(8000, open, close))).toEqual({ ok: false, problems: [`nested deeper than ${MAX_JSON_DEPTH} levels`] });
    expect(parseJson(nested(MAX_JSON_DEPTH + 1, open, close)).ok).toBe(false);
    expect(parseJson(nested(MAX_JSON_DEPTH, open, close)).ok).toBe(true);
  });

  it('counts brackets inside strings as text, escaped quotes included', () => {
    expect(parseJson(JSON.stringify({ label: '['.repeat(1000) + '"\\' }))).toEqual({ ok: true, value: { label: '['.repeat(1000) + '"\\' } });
  });

  it('takes every finite double, and refuses literals a double cannot hold', () => {
    for (const text of HOSTILE_NUMBERS) expect(parseJson(`{"reward":${text}}`)).toEqual({ ok: true, value: { reward: JSON.parse(text) } });
    for (const text of ['1e400', '-1e400', '1' + '0'.repeat(400), '[1, {"a": [2e999]}]'])
      expect(parseJson(text)).toEqual({ ok: false, problems: ['a number is out of the range of a double (±1.8e308)'] });
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (value) => {
        expect(parseJson(JSON.stringify([value]))).toEqual({ ok: true, value: [JSON.parse(JSON.stringify(value))] });
      }),
    );
  });

  it('refuses keys that set prototypes when merged, in any spelling, as Fastify did; takes a constructor that is a name', () => {
    for (const text of ['{"a":{"__proto__":{"x":1}}}', '[{"\\u005f_proto__":1}]', '{"constructor":{"prototype":{"x":1}}}'])
      expect(parseJson(text)).toEqual({ ok: false, problems: ['a "__proto__" key, or a "constructor" object with a "prototype" key, is not accepted'] });
    expect(parseJson('{"constructor":2,"label":"\\"__proto__\\":"}').ok).toBe(true);
  });

  it('refuses text past its size before parsing it', () => {
    expect(parseJson(`"${'a'.repeat(100)}"`, { maxBytes: 64 })).toEqual({ ok: false, problems: ['larger than 64 bytes'] });
    expect(parseJsonBytes(Buffer.from(`"${'é'.repeat(40)}"`), { maxBytes: 64 }).ok).toBe(false);
    expect(parseJson(`"${'é'.repeat(20)}"`, { maxBytes: 64 }).ok).toBe(true);
  });
});

describe(parseAndValidate.name, () => {
  const feedback = { type: 'feedback', version: 1, eventId: 'e1', occurredAt: '2026-12-07T00:00:00.000Z', requestId: 'r1', deployment: 'd' };
  /** A field of a feedback record set to something hostile: a huge or non-finite number, a wrong type, deep nesting. */
  const hostile = fc.oneof(
    fc.constantFrom(...HOSTILE_NUMBERS, ...HOSTILE_TEXT),
    fc.integer({ min: 1, max: 200 }).map((depth) => nested(depth, '[', ']')),
    fc.integer({ min: 1, max: 200 }).map((depth) => nested(depth, '{"a":', '}')),
    fc.json({ depthSize: 'small' }),
  );
  const field = fc.constantFrom('label', 'reward', 'requestId', 'deployment', 'version', 'occurredAt', 'extra');

  it('never throws, and accepts exactly what validatePlain accepts of what JSON.parse makes of the text', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CLASSES), field, hostile, (cls, name, value) => {
        const text = `${JSON.stringify(feedback).slice(0, -1)},"${name}":${value}}`;
        const result = parseAndValidate(cls as new () => object, text);
        const plain = parseJson(text);
        if (!plain.ok) expect(result).toEqual({ ok: false, problems: plain.problems.map((p) => `value is not valid JSON: ${p}`) });
        else expect(result.ok).toBe(validatePlain(cls as new () => object, plain.value).ok);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on random bytes, and refuses them with a reason', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CLASSES), fc.uint8Array({ maxLength: 256 }), (cls, bytes) => {
        const result = parseAndValidate(cls as new () => object, Buffer.from(bytes));
        expect(result.ok || result.problems.length > 0).toBe(true);
      }),
    );
  });

  it('refuses the label nested 8 000 deep that crashed the join-state rebuild, with the reason', () => {
    const text = JSON.stringify(feedback).replace('}', `,"label":${nested(8000, '[', ']', '')}}`);
    expect(parseAndValidate(FeedbackEvent, text)).toEqual({ ok: false, problems: [`value is not valid JSON: nested deeper than ${MAX_JSON_DEPTH} levels`] });
  });

  it('refuses a number that is no double, and a wrong type, where it is read', () => {
    expect(parseAndValidate(FeedbackEvent, JSON.stringify(feedback).replace('}', ',"reward":1e999}')).ok).toBe(false);
    expect(parseAndValidate(FeedbackEvent, JSON.stringify({ ...feedback, reward: 'NaN' }))).toEqual({
      ok: false,
      problems: ['reward must be a number conforming to the specified constraints'],
    });
  });
});

describe(validatePlain.name, () => {
  it('refuses what a validator throws on instead of throwing', () => {
    const cyclic: Record<string, unknown> = { requestId: 'r1' };
    cyclic.label = cyclic;
    const result = validatePlain(FeedbackEvent, cyclic);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems[0]).toMatch(/^cannot be validated: /);
  });
});
