import {
  GUARDRAIL_DEFAULTS,
  labelHorizonSeconds,
  MAX_MARGIN_SD,
  normalizeSpec,
  validateDeploymentSpec,
  DeploymentSpecInput,
  withStrategy,
  DeploymentSpec,
} from './deployment';

const variants = [
  { name: 'v1', url: 'http://127.0.0.1:9000', model: 'churn-v1' },
  { name: 'v2', url: 'http://127.0.0.1:9000/', model: 'churn-v2', protocol: 'json', timeoutMs: 200 },
];

describe(validateDeploymentSpec.name, () => {
  it('accepts each strategy type', () => {
    for (const strategy of [
      { type: 'single', variant: 'v1' },
      { type: 'shadow', primary: 'v1', shadows: ['v2'] },
      { type: 'canary', primary: 'v1', canary: 'v2', percent: 12.5 },
      { type: 'bandit', algorithm: 'ucb1', minShare: 0.1 },
    ]) {
      expect(validateDeploymentSpec({ variants, strategy })).toMatchObject({ ok: true });
    }
  });

  it('lists every problem with its path', () => {
    const result = validateDeploymentSpec({
      variants: [{ name: 'V 1', url: 'file:///x', timeoutMs: 0 }],
      strategy: { type: 'canary', primary: 'v1', percent: -1 },
      reward: { type: 'guess' },
      extra: true,
    });
    expect(result.ok).toBe(false);
    const problems = (result as { problems: string[] }).problems.join('\n');
    for (const path of [
      'variants.0.name',
      'variants.0.url',
      'variants.0.model',
      'variants.0.timeoutMs',
      'strategy.canary',
      'strategy.percent',
      'reward.type',
      'extra',
    ]) {
      expect(problems).toContain(path);
    }
  });

  it('takes reward bounds of their own type, and refuses others, inverted ones and ones past MAX_REWARD_BOUND', () => {
    const strategy = { type: 'single', variant: 'v1' };
    const check = (reward: object) => validateDeploymentSpec({ variants, strategy, reward });
    expect(check({ type: 'explicit', min: -5, max: 10 }).ok).toBe(true);
    expect(check({ type: 'negAbsError', maxError: 50 }).ok).toBe(true);
    expect(check({ type: 'match', min: 0 })).toEqual({ ok: false, problems: ['reward.min applies to reward type explicit only'] });
    expect(check({ type: 'explicit', maxError: 1 })).toEqual({ ok: false, problems: ['reward.maxError applies to reward type negAbsError only'] });
    expect(check({ type: 'explicit', min: 2 })).toEqual({ ok: false, problems: ['reward.min must be below reward.max (defaults 0 and 1)'] });
    expect(check({ type: 'negAbsError', maxError: 0 })).toEqual({ ok: false, problems: ['reward.maxError must be above 0'] });
    expect(check({ type: 'explicit', max: 1e150 }).ok).toBe(false);
    expect(check({ type: 'explicit', min: 'low' }).ok).toBe(false);
  });

  it('requires a strategy (found by the fuzz test: it was a 500)', () => {
    expect(validateDeploymentSpec({ variants })).toEqual({ ok: false, problems: ['strategy is required'] });
  });

  it.each([undefined, null, 'text', 42])(
    'refuses a body that is not an object (%p) with a reason (found by the fuzz test: a missing body was a 500)',
    (body) => {
      const result = validateDeploymentSpec(body);
      expect(result.ok).toBe(false);
      expect(result.ok ? [] : result.problems).not.toHaveLength(0);
    },
  );

  it('refuses references to unknown variants, duplicates and fields of another strategy', () => {
    const result = validateDeploymentSpec({
      variants: [variants[0], variants[0]],
      strategy: { type: 'shadow', primary: 'v1', shadows: ['v1', 'v7'] },
    });
    expect(result).toEqual({
      ok: false,
      problems: ['variants: duplicate names v1', 'strategy.shadows.1: unknown variant "v7"', 'strategy.shadows must not include the primary'],
    });
    expect(validateDeploymentSpec({ variants, strategy: { type: 'shadow', primary: 'v1', shadows: ['v2'], percent: 5 } })).toEqual({
      ok: false,
      problems: ['strategy.percent does not apply to strategy shadow'],
    });
  });

  it('validates a strategy by the class of its type, and an unknown type as only that', () => {
    expect(validateDeploymentSpec({ variants, strategy: { type: 'canary', primary: 'v1' } })).toEqual({
      ok: false,
      problems: [
        'strategy.canary must be a string',
        'strategy.percent must not be greater than 100',
        'strategy.percent must not be less than 0',
        'strategy.percent must be a number conforming to the specified constraints',
      ],
    });
    expect(validateDeploymentSpec({ variants, strategy: { type: 'split', variant: 'v1' } })).toEqual({
      ok: false,
      problems: ['strategy.type must be one of the following values: single, shadow, canary, bandit, plan'],
    });
    const stored = normalizeSpec(
      'churn',
      (validateDeploymentSpec({ variants, strategy: { type: 'single', variant: 'v1' } }) as { value: DeploymentSpecInput }).value,
    );
    expect(stored.strategy).toEqual({ type: 'single', variant: 'v1' });
    expect(Object.getPrototypeOf(stored.strategy)).toBe(Object.prototype);
  });

  it('stores feedback.requireToken only when asked for, and refuses a non-boolean', () => {
    const stored = (feedback: unknown) => {
      const result = validateDeploymentSpec({ variants, strategy: { type: 'single', variant: 'v1' }, ...(feedback !== undefined && { feedback }) });
      if (!result.ok) throw new Error(result.problems.join('; '));
      return normalizeSpec('churn', result.value).feedback;
    };
    expect(stored({ requireToken: true })).toEqual({ requireToken: true });
    expect(stored({ requireToken: false })).toBeUndefined();
    expect(stored(undefined)).toBeUndefined();
    expect(validateDeploymentSpec({ variants, strategy: { type: 'single', variant: 'v1' }, feedback: { requireToken: 'yes' } })).toEqual({
      ok: false,
      problems: ['feedback.requireToken must be a boolean value'],
    });
  });

  it('takes a model version a v2 variant pins, stores it, and refuses it on a json variant or malformed', () => {
    const pinned = [{ ...variants[0], modelVersion: '3' }, variants[1]];
    const result = validateDeploymentSpec({ variants: pinned, strategy: { type: 'single', variant: 'v1' } });
    if (!result.ok) throw new Error(result.problems.join('; '));
    expect(normalizeSpec('churn', result.value).variants[0]).toMatchObject({ model: 'churn-v1', modelVersion: '3' });
    const bad = [
      { ...variants[0], modelVersion: 'a/b' },
      { ...variants[1], modelVersion: '1' },
    ];
    expect(validateDeploymentSpec({ variants: bad, strategy: { type: 'single', variant: 'v1' } })).toEqual({
      ok: false,
      problems: ['variants.0.modelVersion must be 1-64 letters, digits, ".", "_" or "-"'],
    });
    expect(validateDeploymentSpec({ variants: [variants[0], bad[1]], strategy: { type: 'single', variant: 'v1' } })).toEqual({
      ok: false,
      problems: ['variants: v2 has a modelVersion, which only the v2 and grpc protocols address'],
    });
  });

  it('refuses a bandit whose floor cannot hold', () => {
    const result = validateDeploymentSpec({ variants, strategy: { type: 'bandit', algorithm: 'thompson', minShare: 0.5 } });
    expect(result).toMatchObject({ ok: true });
    const three = [...variants, { name: 'v3', url: 'http://h:1', model: 'm' }];
    expect(validateDeploymentSpec({ variants: three, strategy: { type: 'bandit', algorithm: 'thompson', minShare: 0.4 } })).toEqual({
      ok: false,
      problems: ['strategy.minShare times the number of variants must not exceed 1'],
    });
  });
});

describe('contextual bandit spec', () => {
  const context = {
    features: [
      { name: 'amount', type: 'numeric', input: 'features', index: 2, min: 0, max: 1000, scale: 0.001, default: 0 },
      { name: 'channel', type: 'categorical', context: 'channel', levels: ['card-present', 'online'] },
      { name: 'country', type: 'categorical', path: 'customer.country', levels: ['fr', 'de', 'it'] },
    ],
  };
  const problems = (strategy: object) => {
    const result = validateDeploymentSpec({ variants, strategy });
    return result.ok ? [] : result.problems;
  };

  it.each(['linear-thompson', 'linucb'])('accepts %s with its context and settings', (algorithm) => {
    expect(problems({ type: 'bandit', algorithm, context, ridge: 2, exploration: 0.5, halfLifeSeconds: 3600 })).toEqual([]);
  });

  it('accepts squarecb with its γ, and refuses γ and exploration where the algorithm does not read them', () => {
    expect(problems({ type: 'bandit', algorithm: 'squarecb', context, ridge: 2, gamma: 50, halfLifeSeconds: 3600 })).toEqual([]);
    expect(problems({ type: 'bandit', algorithm: 'squarecb', context, exploration: 0.5 })).toEqual([
      'strategy.exploration applies only to linear-thompson, linucb, not squarecb',
    ]);
    expect(problems({ type: 'bandit', algorithm: 'linucb', context, gamma: 50 })).toEqual(['strategy.gamma applies only to squarecb, not linucb']);
    expect(problems({ type: 'bandit', algorithm: 'thompson', gamma: 50 })).toEqual(['strategy.gamma applies only to squarecb, not thompson']);
    expect(problems({ type: 'bandit', algorithm: 'squarecb', context, gamma: -1 }).join('\n')).toMatch(/strategy\.gamma must not be less than 0/);
  });

  it('checks the whole context, every rule between its fields', () => {
    const features = [
      { name: 'a', type: 'numeric', context: 'a', input: 'x', min: 2, max: 1 },
      { name: 'a', type: 'categorical', path: 'p', levels: ['x'], scale: 2 },
      { name: 'b', type: 'numeric', context: 'b', index: 1 },
    ];
    expect(problems({ type: 'bandit', algorithm: 'linucb', context: { features } })).toEqual([
      'strategy.context.features: duplicate names a',
      'strategy.context.features.0 must have exactly one of context, input, path (where to read the feature), got 2',
      'strategy.context.features.0.min (2) must be below max (1)',
      'strategy.context.features.1.scale applies only to a numeric feature',
      'strategy.context.features.2.index applies only to an input tensor (input)',
    ]);
  });

  it('bounds the number of features, levels and encoded numbers', () => {
    const levels = Array.from({ length: 16 }, (_, i) => `l${i}`);
    const wide = { features: [0, 1].map((i) => ({ name: `c${i}`, type: 'categorical', context: `c${i}`, levels })) };
    expect(problems({ type: 'bandit', algorithm: 'linucb', context: wide })).toContain(
      'strategy.context: 33 numbers per request once encoded (1 + numeric features + categorical levels) exceed 32',
    );
    const many = { features: Array.from({ length: 9 }, (_, i) => ({ name: `n${i}`, type: 'numeric', context: `n${i}` })) };
    expect(problems({ type: 'bandit', algorithm: 'linucb', context: many }).join('\n')).toMatch(
      /strategy\.context\.features must contain no more than 8 elements/,
    );
    const noLevels = { features: [{ name: 'c', type: 'categorical', context: 'c' }] };
    expect(problems({ type: 'bandit', algorithm: 'linucb', context: noLevels }).join('\n')).toMatch(/strategy\.context\.features\.0\.levels/);
  });

  it('requires a context of a contextual algorithm, and refuses one (or its settings) for a context-free algorithm', () => {
    expect(problems({ type: 'bandit', algorithm: 'linear-thompson' })).toContain(
      'strategy.context is required by a contextual algorithm (linear-thompson, linucb, squarecb)',
    );
    expect(problems({ type: 'bandit', algorithm: 'thompson', context, ridge: 2, halfLifeSeconds: 3600 })).toEqual([
      'strategy.context applies only to a contextual algorithm (linear-thompson, linucb, squarecb), not thompson',
      'strategy.ridge applies only to a contextual algorithm (linear-thompson, linucb, squarecb), not thompson',
      'strategy.halfLifeSeconds applies only to a contextual algorithm (linear-thompson, linucb, squarecb), not thompson',
    ]);
  });

  it('bounds the contextual settings', () => {
    const result = problems({ type: 'bandit', algorithm: 'linucb', context, ridge: 0, exploration: 11, halfLifeSeconds: 1.5 }).join('\n');
    expect(result).toMatch(/strategy\.ridge must not be less than 0\.000001/);
    expect(result).toMatch(/strategy\.exploration must not be greater than 10/);
    expect(result).toMatch(/strategy\.halfLifeSeconds must be an integer number/);
  });

  it('names every algorithm when refusing an unknown one', () => {
    expect(validateDeploymentSpec({ variants, strategy: { type: 'bandit', algorithm: 'greedy' } })).toEqual({
      ok: false,
      problems: ['strategy.algorithm must be one of the following values: thompson, ucb1, epsilon-greedy, linear-thompson, linucb, squarecb'],
    });
    expect(validateDeploymentSpec({ variants, strategy: { type: 'bandit', algorithm: 'thompson' } })).toMatchObject({ ok: true });
  });
});

describe('guardrails', () => {
  const canary = { type: 'canary', primary: 'v1', canary: 'v2', percent: 10 };

  it('fills what a spec leaves out with the defaults', () => {
    const result = validateDeploymentSpec({ variants, strategy: canary, guardrails: { alpha: 0.01, onFail: 'pause' } });
    const sut = normalizeSpec('churn', (result as { value: DeploymentSpecInput }).value);
    expect(sut.guardrails).toEqual({ ...GUARDRAIL_DEFAULTS, alpha: 0.01, onFail: 'pause' });
  });

  it('names the field of every bad setting', () => {
    const result = validateDeploymentSpec({
      variants,
      strategy: canary,
      guardrails: {
        metric: 'latency',
        alpha: 0.9,
        minSamples: 1.5,
        onFail: 'explode',
        onPass: 'yes',
        maxLatencyRatio: 0.5,
        maxErrorRateIncrease: -1,
        margin: -1,
        marginUnit: 'points',
        extra: 1,
      },
    });
    const problems = (result as { problems: string[] }).problems.join('\n');
    for (const path of [
      'guardrails.metric',
      'guardrails.alpha',
      'guardrails.minSamples',
      'guardrails.onFail',
      'guardrails.onPass',
      'guardrails.maxLatencyRatio',
      'guardrails.maxErrorRateIncrease',
      'guardrails.margin',
      'guardrails.marginUnit',
      'guardrails.extra',
    ]) {
      expect(problems).toContain(path);
    }
  });

  it('takes a margin on the reward scale of any size, and at most MAX_MARGIN_SD in standard deviations', () => {
    expect(validateDeploymentSpec({ variants, strategy: canary, guardrails: { margin: 2 } })).toMatchObject({ ok: true });
    expect(validateDeploymentSpec({ variants, strategy: canary, guardrails: { margin: 0.1, marginUnit: 'sd' } })).toMatchObject({ ok: true });
    expect(validateDeploymentSpec({ variants, strategy: canary, guardrails: { margin: 6, marginUnit: 'sd' } })).toEqual({
      ok: false,
      problems: [`guardrails.margin (6) must be at most ${MAX_MARGIN_SD} standard deviations when marginUnit is sd`],
    });
  });

  it('takes a label horizon as a whole number and a unit, and refuses anything else naming the field', () => {
    const horizon = (labelHorizon: unknown) => validateDeploymentSpec({ variants, strategy: canary, guardrails: { labelHorizon } });
    expect(horizon('24h').ok).toBe(true);
    expect(labelHorizonSeconds('24h')).toBe(86400);
    expect(labelHorizonSeconds('90s')).toBe(90);
    expect(labelHorizonSeconds('2d')).toBe(172800);
    expect(labelHorizonSeconds(undefined)).toBe(0);
    for (const bad of ['24', '1.5h', '0h', 'h', '24 h', '1w', 24]) {
      expect(horizon(bad)).toEqual({ ok: false, problems: [expect.stringContaining('guardrails.labelHorizon')] });
      if (typeof bad === 'string') expect(() => labelHorizonSeconds(bad)).toThrow(/labelHorizon/);
    }
  });

  it('refuses guardrails with nothing to judge, and a maximum below the minimum', () => {
    expect(validateDeploymentSpec({ variants, strategy: { type: 'single', variant: 'v1' }, guardrails: {} })).toEqual({
      ok: false,
      problems: ['guardrails: strategy single has no candidate to judge; use canary, shadow or bandit'],
    });
    expect(validateDeploymentSpec({ variants, strategy: canary, guardrails: { minSamples: 500, maxSamples: 100 } })).toEqual({
      ok: false,
      problems: ['guardrails.maxSamples (100) must be at least guardrails.minSamples (500)'],
    });
  });

  it("refuses the rollout status (vetoes, a plan's step or pause) in a spec: the controller writes it beside the spec", () => {
    const bandit = { type: 'bandit', algorithm: 'thompson' };
    expect(validateDeploymentSpec({ variants, strategy: { ...bandit, vetoed: ['v2'] } })).toEqual({
      ok: false,
      problems: ['strategy.vetoed is rollout status, written by the rollout controller beside the spec, not in it'],
    });
  });
});

describe('plans', () => {
  const steps = [
    { shadow: { minSamples: 500 } },
    { canary: 5 },
    { canary: 25 },
    { pause: { seconds: 60 } },
    { bandit: { algorithm: 'thompson', minSamples: 2000 } },
    { promote: true },
  ];
  const plan = (extra: object = {}) => ({ type: 'plan', primary: 'v1', candidate: 'v2', steps, ...extra });

  it('accepts a canary or a plan whose primary shadows the canary to pair them, and says where that does not apply', () => {
    const canary = { type: 'canary', primary: 'v1', canary: 'v2', percent: 10, pairWithPrimary: true };
    expect(validateDeploymentSpec({ variants, strategy: canary })).toMatchObject({ ok: true, value: { strategy: { pairWithPrimary: true } } });
    expect(validateDeploymentSpec({ variants, strategy: plan({ pairWithPrimary: true }) })).toMatchObject({ ok: true });
    expect(validateDeploymentSpec({ variants, strategy: { type: 'shadow', primary: 'v1', shadows: ['v2'], pairWithPrimary: true } })).toEqual({
      ok: false,
      problems: ["strategy.pairWithPrimary applies to a canary or a plan's canary steps (the primary shadows the canary's requests), not to strategy shadow"],
    });
  });

  it('accepts a plan with every kind of step and stores it as it was PUT', () => {
    const result = validateDeploymentSpec({ variants, strategy: plan() });
    expect(result).toMatchObject({ ok: true });
    expect(normalizeSpec('churn', (result as { value: DeploymentSpecInput }).value).strategy).toMatchObject({
      type: 'plan',
      primary: 'v1',
      candidate: 'v2',
    });
  });

  it('names what is wrong with a plan', () => {
    const problems = (spec: object) => (validateDeploymentSpec({ variants, strategy: spec }) as { problems: string[] }).problems;
    expect(problems(plan({ steps: [{ canary: 5 }] }))).toEqual(['strategy.steps: a plan must end with {"promote": true}']);
    expect(problems(plan({ steps: [{ canary: 25 }, { canary: 5 }, { promote: true }] }))).toEqual([
      "strategy.steps.1.canary (5) must not go below step 0's 25: canary steps only widen",
    ]);
    expect(problems(plan({ candidate: 'v9' }))).toEqual(['strategy.candidate: unknown variant "v9"']);
    expect(problems(plan({ candidate: 'v1' }))).toEqual(['strategy.candidate must differ from strategy.primary']);
    expect(problems(plan({ steps: [{ canary: 5, promote: true }, { promote: true }] }))).toEqual([
      'strategy.steps.0 must have exactly one of shadow, canary, pause, bandit, promote',
    ]);
    expect(problems(plan({ steps: [{ promote: true }, { canary: 5 }] }))).toContain('strategy.steps.0: promote must be the last step');
    expect(problems(plan({ step: 1 }))).toEqual(['strategy.step is rollout status, written by the rollout controller beside the spec, not in it']);
    expect(problems(plan({ pairWithPrimary: true, steps: [{ shadow: {} }, { promote: true }] }))).toEqual([
      'strategy.pairWithPrimary pairs the candidate with the primary at canary steps, and this plan has none',
    ]);
    expect(problems(plan({ pairWithPrimary: 'yes' }))).toEqual(['strategy.pairWithPrimary must be a boolean value']);
    expect(problems(plan({ steps: [{ bandit: { algorithm: 'greedy' } }, { canary: 120 }, { promote: true }] })).join('\n')).toMatch(
      /steps\.0\.bandit\.algorithm[\s\S]*steps\.1\.canary/,
    );
  });
});

describe(normalizeSpec.name, () => {
  it('fills defaults and trims trailing slashes', () => {
    const result = validateDeploymentSpec({ variants, strategy: { type: 'single', variant: 'v2' } });
    const sut = normalizeSpec('churn', (result as { value: DeploymentSpecInput }).value, new Date('2026-01-01T00:00:00Z'));
    expect(sut).toEqual({
      name: 'churn',
      updatedAt: '2026-01-01T00:00:00.000Z',
      variants: [
        { name: 'v1', url: 'http://127.0.0.1:9000', model: 'churn-v1', protocol: 'v2', timeoutMs: 1000, retries: 0 },
        { name: 'v2', url: 'http://127.0.0.1:9000', model: 'churn-v2', protocol: 'json', timeoutMs: 200, retries: 0 },
      ],
      strategy: { type: 'single', variant: 'v2' },
      reward: { type: 'match' },
    });
  });
});

describe(withStrategy.name, () => {
  const spec: DeploymentSpec = {
    ...normalizeSpec(
      'churn',
      (
        validateDeploymentSpec({ variants, strategy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 10 }, guardrails: {} }) as {
          value: DeploymentSpecInput;
        }
      ).value,
    ),
    version: 4,
  };

  it('keeps the guardrails under a strategy they can judge, and drops them on single', () => {
    const now = new Date('2026-02-02T00:00:00Z');
    const wider = withStrategy(spec, { type: 'canary', primary: 'v1', canary: 'v2', percent: 50 }, now);
    expect(wider).toMatchObject({ name: 'churn', updatedAt: now.toISOString(), guardrails: GUARDRAIL_DEFAULTS, strategy: { percent: 50 } });
    expect(wider).not.toHaveProperty('version');
    expect(withStrategy(spec, { type: 'single', variant: 'v2' }, now)).not.toHaveProperty('guardrails');
  });
});
