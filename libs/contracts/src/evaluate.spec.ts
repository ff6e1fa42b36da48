import { validateEvaluateBody } from './evaluate';

describe(validateEvaluateBody.name, () => {
  const problems = (body: unknown) => {
    const result = validateEvaluateBody(body);
    return result.ok ? [] : result.problems;
  };

  it('accepts every strategy type as a policy, with an optional window', () => {
    expect(problems({ policy: { type: 'single', variant: 'v1' } })).toEqual([]);
    expect(problems({ policy: { type: 'shadow', primary: 'v1', shadows: ['v2'] } })).toEqual([]);
    expect(problems({ policy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 5 } })).toEqual([]);
    expect(problems({ policy: { type: 'bandit', weights: { v1: 0.5, v3: 0.5 } }, since: '2026-11-29T05:00:00Z', until: '2026-11-29T06:00:00.000Z' })).toEqual(
      [],
    );
  });

  it('refuses a missing or malformed policy', () => {
    expect(problems({})).toEqual(['policy is required']);
    expect(problems({ policy: { type: 'single' } })).toEqual(['policy.variant must be a string']);
    expect(problems({ policy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 120 } })).toEqual(['policy.percent must not be greater than 100']);
    expect(problems({ policy: { type: 'nope' } })[0]).toMatch(/^policy.type must be one of/);
    expect(problems({ policy: { type: 'single', variant: 'v1' }, extra: 1 })).toEqual(['extra: property extra should not exist']);
  });

  it('refuses fields of another type, and an adaptive bandit with the reason', () => {
    expect(problems({ policy: { type: 'single', variant: 'v1', percent: 5 } })).toEqual(['policy.percent does not apply to policy single']);
    expect(problems({ policy: { type: 'bandit', algorithm: 'thompson', weights: { v1: 1 } } })).toEqual([
      "policy.algorithm: an adaptive bandit cannot be evaluated off-policy; give fixed policy.weights instead, or a contextual one's models as type contextual",
    ]);
    expect(problems({ policy: { type: 'bandit', algorithm: 'ucb1' } })).toEqual([
      "policy.algorithm: an adaptive bandit cannot be evaluated off-policy; give fixed policy.weights instead, or a contextual one's models as type contextual",
    ]);
    expect(problems({ policy: { type: 'bandit' } })).toEqual(['policy.weights must be an object']);
    expect(problems({ policy: { type: 'bandit', weights: { v1: 1 }, epsilon: 0.1 } })).toEqual([
      "policy.epsilon: an adaptive bandit cannot be evaluated off-policy; give fixed policy.weights instead, or a contextual one's models as type contextual",
    ]);
    expect(problems({ policy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 5, variant: 'v3' } })).toEqual([
      'policy.variant does not apply to policy canary',
    ]);
  });

  it('refuses a plan, which is a sequence of policies, by its type alone', () => {
    expect(problems({ policy: { type: 'plan', primary: 'v1', candidate: 'v2', steps: [] } })).toEqual([
      'policy.type must be one of the following values: single, shadow, canary, bandit, contextual',
    ]);
  });

  it("accepts a contextual policy by its models or the deployment's current ones, and checks the models", () => {
    expect(problems({ policy: { type: 'contextual' } })).toEqual([]);
    expect(problems({ policy: { type: 'contextual', models: { v1: [0.1, 0.8], v2: [0.5, -0.2] } } })).toEqual([]);
    expect(problems({ policy: { type: 'contextual', models: {} } })).toEqual(['policy.models must name at least one variant']);
    expect(problems({ policy: { type: 'contextual', models: { v1: [1], v2: [1, 2], 'Bad Name': ['x'] } } })).toEqual([
      'policy.models: "Bad Name" is not a variant name',
      'policy.models.Bad Name must be a list of 1 to 32 finite numbers (θ, the intercept first)',
      "policy.models: every θ must have the same length (the encoded context's), got 1, 2",
    ]);
    expect(problems({ policy: { type: 'contextual', models: [1, 2] } })).toEqual(['policy.models must be an object']);
  });

  it("accepts SquareCB's γ with given models only", () => {
    expect(problems({ policy: { type: 'contextual', models: { v1: [0.1, 0.8], v2: [0.5, -0.2] }, gamma: 20 } })).toEqual([]);
    expect(problems({ policy: { type: 'contextual', gamma: 20 } })).toEqual([
      "policy.gamma applies only to given policy.models (the deployment's own models are evaluated with its own settings)",
    ]);
    expect(problems({ policy: { type: 'contextual', models: { v1: [1] }, gamma: -1 } }).join('\n')).toMatch(/policy\.gamma must not be less than 0/);
  });

  it('accepts a shadow without its shadows, and checks them when given', () => {
    expect(problems({ policy: { type: 'shadow', primary: 'v1' } })).toEqual([]);
    expect(problems({ policy: { type: 'shadow', primary: 'v1', shadows: 'v2' } })).toContain('policy.shadows must be an array');
    expect(problems({ policy: { type: 'canary', primary: 'v1', canary: 'v1', percent: 5 } })).toEqual(['policy.canary must differ from policy.primary']);
    expect(problems({ policy: { type: 'single', variant: 'Bad Name' } })).toEqual(['policy.variant must be a variant name']);
  });

  it('refuses weights that are not a distribution over variant names', () => {
    expect(problems({ policy: { type: 'bandit', weights: { v1: -1, v2: 1 } } })).toEqual(['policy.weights.v1 must be a finite number >= 0']);
    expect(problems({ policy: { type: 'bandit', weights: { v1: 0 } } })).toEqual(['policy.weights must have a positive sum']);
    expect(problems({ policy: { type: 'bandit', weights: { 'Bad Name': 1 } } })).toEqual(['policy.weights: "Bad Name" is not a variant name']);
    expect(problems({ policy: { type: 'bandit', weights: { v1: '1' } } })).toEqual([
      'policy.weights.v1 must be a finite number >= 0',
      'policy.weights must have a positive sum',
    ]);
  });

  it('refuses a window that is not ISO 8601 or ends before it starts', () => {
    expect(problems({ policy: { type: 'single', variant: 'v1' }, since: 'yesterday' })).toEqual(['since must be a valid ISO 8601 date string']);
    expect(problems({ policy: { type: 'single', variant: 'v1' }, since: '2026-11-29T06:00:00Z', until: '2026-11-29T05:00:00Z' })).toEqual([
      'since must be before until',
    ]);
  });
});
