import { validateDeploymentSpec } from './deployment';
import { didYouMean } from './validation';

const spec = (fields: Record<string, unknown> = {}, strategy: Record<string, unknown> = { type: 'canary', primary: 'v1', canary: 'v2', percent: 10 }) => ({
  variants: [
    { name: 'v1', url: 'http://127.0.0.1:9000' },
    { name: 'v2', url: 'http://127.0.0.1:9000' },
  ],
  strategy,
  ...fields,
});

describe(didYouMean.name, () => {
  it('names the nearest known field: a swap, a letter missing or extra, another case', () => {
    expect(didYouMean('precent', ['primary', 'canary', 'percent'])).toBe(' (did you mean `percent`?)');
    expect(didYouMean('guardrail', ['variants', 'strategy', 'reward', 'guardrails'])).toBe(' (did you mean `guardrails`?)');
    expect(didYouMean('minSample', ['minSamples', 'maxSamples'])).toBe(' (did you mean `minSamples`?)');
    expect(didYouMean('timeoutms', ['timeoutMs'])).toBe(' (did you mean `timeoutMs`?)');
  });

  it('says nothing when no field is near', () => {
    expect(didYouMean('colour', ['variants', 'strategy', 'reward', 'guardrails'])).toBe('');
    expect(didYouMean('ab', ['cd'])).toBe('');
  });
});

describe('validateDeploymentSpec on unknown fields', () => {
  const problems = (plain: unknown) => {
    const result = validateDeploymentSpec(plain);
    return result.ok ? [] : result.problems;
  };

  it('suggests the field meant, at the top, in the guardrails and in the strategy', () => {
    expect(problems(spec({ guardrail: { minSamples: 10 } }))).toContain('guardrail: property guardrail should not exist (did you mean `guardrails`?)');
    expect(problems(spec({ guardrails: { minSample: 10 } }))).toContain(
      'guardrails.minSample: property minSample should not exist (did you mean `minSamples`?)',
    );
    expect(problems(spec({}, { type: 'canary', primary: 'v1', canary: 'v2', percent: 10, precent: 10 }))).toContain(
      'strategy.precent does not apply to strategy canary (did you mean `percent`?)',
    );
  });
});
