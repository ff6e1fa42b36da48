import { plainToInstance, Type } from 'class-transformer';
import * as classValidator from 'class-validator';
import { IsArray, IsOptional, validateSync, ValidateNested } from 'class-validator';
import { envelope } from './envelope';
import { FeedbackEvent, JoinedEvent, PredictionEvent } from './events';
import { PredictBody } from './http';
import { Opaque, parseAndValidate, unionFieldProblems, validatePlain } from './validation';

class Tensor {
  @IsArray()
  @Opaque()
  data: unknown[];
}

/** A contract with nested payload fields, as tensors inside a request. */
class TensorRequest {
  @ValidateNested({ each: true })
  @Type(() => Tensor)
  inputs: Tensor[];

  @IsOptional()
  @Opaque()
  parameters?: Record<string, unknown>;
}

const tensor = (data: unknown) => ({ name: 'image', shape: [1, 3], datatype: 'FP32', data });

/** A served bandit prediction event with every optional field but fallbackFrom. */
const predictionEvent = () => ({
  ...envelope('prediction'),
  requestId: 'r1',
  deployment: 'd',
  variant: 'v1',
  role: 'served',
  strategy: 'bandit',
  specVersion: 2,
  probability: 0.5,
  latencyMs: 1.5,
  outputs: [tensor([1])],
  unitKey: 'u',
});

describe('validatePlain', () => {
  it('passes payload fields through as they came: the very same objects, not copies', () => {
    const inputs = [tensor([0.1, 0.2, 0.3])];
    const result = validatePlain(PredictBody, { inputs, unitKey: 'u1' });
    expect(result.ok && result.value.inputs).toBe(inputs);
    expect(result.ok && result.value).toBeInstanceOf(PredictBody);
  });

  it('keeps nested payload fields too (tensor data), while the tensors become contract instances', () => {
    const data = [1, 2, 3];
    const result = validatePlain(TensorRequest, { inputs: [{ data }], parameters: { unitKey: 'u' } });
    if (!result.ok) throw new Error(result.problems.join('; '));
    expect(result.value.inputs[0].constructor.name).toBe('Tensor');
    expect(result.value.inputs[0].data).toBe(data);
    expect(result.value.parameters).toEqual({ unitKey: 'u' });
  });

  it('still checks payload fields: presence, and the type rules they carry', () => {
    expect(validatePlain(PredictBody, {})).toEqual({ ok: false, problems: ['inputs is required'] });
    expect(validatePlain(TensorRequest, { inputs: [{ data: 'not an array' }] })).toEqual({ ok: false, problems: ['inputs.0.data must be an array'] });
  });

  it('rejects fields the contract does not name', () => {
    expect(validatePlain(PredictBody, { inputs: [], model: 'x' })).toEqual({ ok: false, problems: ['model: property model should not exist'] });
  });

  it('passes through payload fields declared on a parent contract (JoinedEvent extends PredictionEvent)', () => {
    const outputs = [tensor([1])];
    const joined = {
      ...envelope('joined'),
      requestId: 'r1',
      deployment: 'd',
      variant: 'v1',
      role: 'served',
      strategy: 'single',
      specVersion: 1,
      probability: 1,
      latencyMs: 1,
      outputs,
      label: { churn: 1 },
      reward: 1,
      predictedAt: new Date().toISOString(),
      feedbackAt: new Date().toISOString(),
    };
    const result = validatePlain(JoinedEvent, joined);
    if (!result.ok) throw new Error(result.problems.join('; '));
    expect(result.value.outputs).toBe(outputs);
    expect(result.value.label).toBe(joined.label);
  });

  it('names the step that failed on bytes from Kafka', () => {
    expect(parseAndValidate(PredictBody, '{oops')).toEqual({ ok: false, problems: [expect.stringMatching(/^value is not valid JSON: /)] });
    expect(parseAndValidate(PredictBody, null)).toEqual({ ok: false, problems: ['message has no value'] });
  });

  it('builds flat events (no @Type) without class-transformer, into the instance it would build', () => {
    const prediction = predictionEvent();
    const result = validatePlain(PredictionEvent, prediction);
    if (!result.ok) throw new Error(result.problems.join('; '));
    expect(result.value).toBeInstanceOf(PredictionEvent);
    // plainToInstance leaves the @Opaque fields out; validatePlain passes them through.
    expect(result.value).toEqual(Object.assign(plainToInstance(PredictionEvent, prediction), { outputs: prediction.outputs }));
    const feedback = { requestId: 'r1', label: { churn: 1 }, occurredAt: new Date().toISOString() };
    const parsed = validatePlain(FeedbackEvent, feedback);
    expect(parsed.ok && parsed.value).toEqual(Object.assign(plainToInstance(FeedbackEvent, feedback), { label: feedback.label }));
  });

  it('skips a "__proto__" key from JSON as class-transformer does, so it cannot reach the prototype', () => {
    const result = validatePlain(PredictBody, JSON.parse('{"inputs": [1], "__proto__": {"polluted": true}}'));
    expect(result.ok).toBe(true);
    expect(result.ok && (result.value as unknown as { polluted?: boolean }).polluted).toBeUndefined();
    expect(result.ok && Object.getPrototypeOf(result.value)).toBe(PredictBody.prototype);
  });

  it('accepts on its fast path only what validateSync accepts: every event field missing, null or of another type', () => {
    const prediction = { ...predictionEvent(), fallbackFrom: 'v2', context: [1, 0.5] };
    const joined = { ...prediction, ...envelope('joined'), label: 1, reward: 1, predictedAt: new Date().toISOString(), feedbackAt: new Date().toISOString() };
    const feedback = { ...envelope('feedback'), requestId: 'r1', deployment: 'd', label: { churn: 1 }, reward: 0.5 };
    const others: unknown[] = [undefined, null, '', 'x', 'r 1', -1, 0, 1.5, 2, 1e9, true, [], {}, [1], '2026-01-01T00:00:00Z', 'a'.repeat(300)];
    for (const [cls, valid] of [
      [PredictionEvent, prediction],
      [JoinedEvent, joined],
      [FeedbackEvent, feedback],
    ] as const) {
      const variants: Record<string, unknown>[] = [valid, { ...valid, extra: 1 }];
      for (const field of Object.keys(valid)) for (const other of others) variants.push({ ...valid, [field]: other });
      const full = jest.spyOn(classValidator, 'validateSync');
      expect(validatePlain(cls as new () => object, valid).ok).toBe(true);
      expect(full).not.toHaveBeenCalled();
      full.mockRestore();
      for (const plain of variants) {
        const reference = validateSync(plainToInstance(cls as new () => object, plain), { whitelist: true, forbidNonWhitelisted: true }).length === 0;
        expect({ plain, ok: validatePlain(cls as new () => object, plain).ok }).toEqual({ plain, ok: reference });
      }
    }
  });
});

describe(unionFieldProblems.name, () => {
  const foreign = 'policy.percent: property percent should not exist';

  it("words a field the type's class lacks as not applying to that type, or as `explain` says", () => {
    const plain = { policy: { type: 'single', percent: 5 } };
    expect(unionFieldProblems([foreign, 'policy.variant must be a string'], plain, 'policy', ['single'])).toEqual([
      'policy.percent does not apply to policy single',
      'policy.variant must be a string',
    ]);
    expect(unionFieldProblems([foreign], plain, 'policy', ['single'], (field, type) => `${field} of ${type as string}`)).toEqual(['percent of single']);
  });

  it('drops them when the type names no class, and leaves problems of other fields as they are', () => {
    expect(unionFieldProblems([foreign, 'policy.type must be one of'], { policy: { type: 'plan' } }, 'policy', ['single'])).toEqual([
      'policy.type must be one of',
    ]);
    expect(unionFieldProblems(['extra: property extra should not exist'], { extra: 1 }, 'policy', ['single'])).toEqual([
      'extra: property extra should not exist',
    ]);
    expect(unionFieldProblems([foreign], null, 'policy', ['single'])).toEqual([]);
  });
});
