import { cannotEqual, computeReward, looselyEqual, outputsAgree, rewardKindOf, rewardRange, valueAtPath } from './reward';

const OIP_OUTPUTS = [
  { name: 'label', shape: [2], datatype: 'INT64', data: [1, 0] },
  { name: 'probability', shape: [2], datatype: 'FP32', data: [0.8, 0.3] },
];
const JSON_OUTPUTS = { label: 'churn', scores: [0.2, 0.8], detail: { model: 'v2' } };

describe(valueAtPath.name, () => {
  it.each([
    ['0.data.0', 1],
    ['1.data.1', 0.3],
    ['1.name', 'probability'],
    ['label.data.0', 1],
    ['probability.data.1', 0.3],
  ])('reads %p from an Open Inference Protocol answer', (path, expected) => {
    expect(valueAtPath(OIP_OUTPUTS, path)).toBe(expected);
  });

  it.each([
    ['label', 'churn'],
    ['scores.1', 0.8],
    ['detail.model', 'v2'],
  ])('reads %p from a json answer', (path, expected) => {
    expect(valueAtPath(JSON_OUTPUTS, path)).toBe(expected);
  });

  it('takes the first value of the first output without a path', () => {
    expect(valueAtPath(OIP_OUTPUTS)).toBe(1);
    expect(valueAtPath(JSON_OUTPUTS)).toBe('churn');
    expect(valueAtPath({ outputs: [[7, 8]] })).toBe(7);
    expect(valueAtPath({ data: ['x'] })).toBe('x');
    expect(valueAtPath(42)).toBe(42);
    expect(valueAtPath('yes', '')).toBe('yes');
  });

  it('is undefined for what is not there', () => {
    expect(valueAtPath(OIP_OUTPUTS, '5.data.0')).toBeUndefined();
    expect(valueAtPath(OIP_OUTPUTS, 'score.data.0')).toBeUndefined();
    expect(valueAtPath(JSON_OUTPUTS, 'label.deeper')).toBeUndefined();
    expect(valueAtPath(JSON_OUTPUTS, 'constructor')).toBeUndefined();
    expect(valueAtPath([], undefined)).toBeUndefined();
    expect(valueAtPath({}, undefined)).toBeUndefined();
    expect(valueAtPath(undefined, 'a')).toBeUndefined();
  });

  it('returns null when the output is null', () => {
    expect(valueAtPath({ label: null }, 'label')).toBeNull();
    expect(valueAtPath([null])).toBeNull();
  });
});

describe(looselyEqual.name, () => {
  it.each([
    [1, '1'],
    [1, 1.0],
    ['1.0', 1],
    [true, 1],
    [false, '0'],
    ['true', true],
    ['churn', 'churn'],
    [null, null],
    [
      [1, 'a'],
      ['1', 'a'],
    ],
    [{ x: 1 }, { x: '1' }],
  ])('%p equals %p', (a, b) => {
    expect(looselyEqual(a, b)).toBe(true);
    expect(looselyEqual(b, a)).toBe(true);
  });

  it.each([
    [1, '2'],
    [1, 'one'],
    ['Churn', 'churn'],
    [true, 2],
    [null, 0],
    [undefined, ''],
    ['', 0],
    [[1], [1, 2]],
    [{ x: 1 }, { y: 1 }],
    [[1], { 0: 1 }],
    ['1', [1]],
  ])('%p differs from %p', (a, b) => {
    expect(looselyEqual(a, b)).toBe(false);
    expect(looselyEqual(b, a)).toBe(false);
  });
});

describe(cannotEqual.name, () => {
  it('names a label of a kind the output can never equal, and only then', () => {
    expect(cannotEqual(1, 'churn')).toBe('a label of text can never equal the output (first value of the first output), a number (label "churn")');
    expect(cannotEqual('yes', [1], 'label')).toBe('a label of an array can never equal the output at "label", text (label [1])');
    expect(cannotEqual({ a: 1 }, 1)).toMatch(/^a label of a number can never equal the output .*, an object/);
    // Loosely equal kinds: a wrong answer, not a wrong label.
    for (const [output, label] of [
      [1, '0'],
      [1, true],
      ['yes', 'no'],
      [[1], [2]],
    ])
      expect(cannotEqual(output, label)).toBeUndefined();
  });

  it("is what a match reward of 0 says when the label's kind is wrong", () => {
    const outputs = [{ name: 'churn', shape: [1], datatype: 'INT64', data: [1] }];
    expect(computeReward({ type: 'match' }, outputs, { label: 'churn' })).toEqual({
      ok: true,
      reward: 0,
      mismatch: 'a label of text can never equal the output (first value of the first output), a number (label "churn")',
    });
    expect(computeReward({ type: 'match' }, outputs, { label: 0 })).toEqual({ ok: true, reward: 0 });
    expect(computeReward({ type: 'match' }, outputs, { label: '1' })).toEqual({ ok: true, reward: 1 });
  });
});

describe(computeReward.name, () => {
  describe('match', () => {
    it('is 1 when the output equals the label, loosely', () => {
      expect(computeReward({ type: 'match', outputPath: '0.data.0' }, OIP_OUTPUTS, { label: '1' })).toEqual({ ok: true, reward: 1 });
      expect(computeReward({ type: 'match' }, OIP_OUTPUTS, { label: true })).toEqual({ ok: true, reward: 1 });
      expect(computeReward({ type: 'match', outputPath: 'label' }, JSON_OUTPUTS, { label: 'churn' })).toEqual({ ok: true, reward: 1 });
    });

    it('is 0 when it does not', () => {
      expect(computeReward({ type: 'match' }, OIP_OUTPUTS, { label: 0 })).toEqual({ ok: true, reward: 0 });
      expect(computeReward({ type: 'match', outputPath: 'label' }, JSON_OUTPUTS, { label: 'stay' })).toEqual({ ok: true, reward: 0 });
    });

    it('needs a label, even when a reward is given', () => {
      expect(computeReward({ type: 'match' }, OIP_OUTPUTS, { reward: 1 })).toEqual({ ok: false, reason: expect.stringMatching(/needs a label/) });
    });

    it('fails when the output path is missing', () => {
      expect(computeReward({ type: 'match', outputPath: 'nope' }, JSON_OUTPUTS, { label: 1 })).toEqual({
        ok: false,
        reason: expect.stringMatching(/no output at "nope"/),
      });
    });
  });

  describe('explicit', () => {
    it('is the reward the feedback carries, within the spec range, bounds included', () => {
      expect(computeReward({ type: 'explicit' }, OIP_OUTPUTS, { reward: 0.25 })).toEqual({ ok: true, reward: 0.25 });
      expect(computeReward({ type: 'explicit' }, OIP_OUTPUTS, { reward: 1 })).toEqual({ ok: true, reward: 1 });
      expect(computeReward({ type: 'explicit', min: -5, max: 0 }, undefined, { reward: -3, label: 'ignored' })).toEqual({ ok: true, reward: -3 });
    });

    it('refuses a reward outside the range (one feedback of 1e150 took a bandit over), default [0, 1]', () => {
      for (const reward of [1e150, 1.5, -0.01, 1e200])
        expect(computeReward({ type: 'explicit' }, OIP_OUTPUTS, { reward })).toEqual({
          ok: false,
          reason: `reward ${reward} is outside the deployment's reward range [0, 1]`,
          outOfRange: true,
        });
      expect(computeReward({ type: 'explicit', min: -1, max: 10 }, OIP_OUTPUTS, { reward: 11 }).ok).toBe(false);
    });

    it('needs a finite numeric reward', () => {
      for (const feedback of [{}, { label: 1 }, { reward: NaN }, { reward: Infinity }, { reward: '1' as unknown as number }]) {
        expect(computeReward({ type: 'explicit' }, OIP_OUTPUTS, feedback)).toEqual({ ok: false, reason: expect.stringMatching(/numeric reward/) });
      }
    });
  });

  describe('negAbsError', () => {
    it('clips the error at maxError (default 1), huge and overflowing labels included', () => {
      expect(computeReward({ type: 'negAbsError', outputPath: 'v' }, { v: 0.5 }, { label: 1e200 })).toEqual({ ok: true, reward: -1 });
      expect(computeReward({ type: 'negAbsError', outputPath: 'v', maxError: 100 }, { v: -1.7e308 }, { label: '1.7e308' })).toEqual({ ok: true, reward: -100 });
      expect(computeReward({ type: 'negAbsError', outputPath: 'v', maxError: 100 }, { v: 10 }, { label: 12.5 })).toEqual({ ok: true, reward: -2.5 });
    });

    it('is minus the absolute error', () => {
      expect(computeReward({ type: 'negAbsError', outputPath: '1.data.0' }, OIP_OUTPUTS, { label: 1 })).toEqual({ ok: true, reward: expect.closeTo(-0.2, 12) });
      expect(computeReward({ type: 'negAbsError', outputPath: 'v', maxError: 10 }, { v: 10 }, { label: '12.5' })).toEqual({ ok: true, reward: -2.5 });
      expect(computeReward({ type: 'negAbsError', outputPath: 'v', maxError: 10 }, { v: '7' }, { label: 3 })).toEqual({ ok: true, reward: -4 });
    });

    it('is 0, not -0, for a perfect prediction', () => {
      const result = computeReward({ type: 'negAbsError' }, [{ data: [3] }], { label: 3 });
      expect(result).toEqual({ ok: true, reward: 0 });
      expect(Object.is((result as { reward: number }).reward, 0)).toBe(true);
    });

    it('fails on a non-numeric output or label', () => {
      expect(computeReward({ type: 'negAbsError', outputPath: 'label' }, JSON_OUTPUTS, { label: 1 })).toEqual({
        ok: false,
        reason: expect.stringMatching(/output at "label" is not numeric/),
      });
      expect(computeReward({ type: 'negAbsError', outputPath: 'v' }, { v: true }, { label: 1 })).toEqual({
        ok: false,
        reason: expect.stringMatching(/not numeric/),
      });
      expect(computeReward({ type: 'negAbsError', outputPath: 'v' }, { v: 1 }, { label: 'high' })).toEqual({
        ok: false,
        reason: expect.stringMatching(/label is not numeric/),
      });
      expect(computeReward({ type: 'negAbsError', outputPath: 'v' }, { v: 1 }, { label: null })).toEqual({
        ok: false,
        reason: expect.stringMatching(/label is not numeric/),
      });
    });

    it('needs a label', () => {
      expect(computeReward({ type: 'negAbsError' }, OIP_OUTPUTS, {})).toEqual({ ok: false, reason: expect.stringMatching(/needs a label/) });
    });
  });
});

describe(outputsAgree.name, () => {
  it('compares the values at the path', () => {
    const other = [
      { name: 'label', data: ['1', 1] },
      { name: 'probability', data: [0.6, 0.3] },
    ];
    expect(outputsAgree(OIP_OUTPUTS, other)).toBe(true);
    expect(outputsAgree(OIP_OUTPUTS, other, '0.data.1')).toBe(false);
    expect(outputsAgree(OIP_OUTPUTS, other, '1.data.1')).toBe(true);
    expect(outputsAgree(OIP_OUTPUTS, other, '1.data.0')).toBe(false);
  });

  it('compares a named tensor wherever each answer has it', () => {
    const reordered = [OIP_OUTPUTS[1], { ...OIP_OUTPUTS[0], data: [0, 0] }];
    expect(outputsAgree(OIP_OUTPUTS, [...OIP_OUTPUTS].reverse(), 'label.data.0')).toBe(true);
    expect(outputsAgree(OIP_OUTPUTS, reordered, 'label.data.0')).toBe(false);
    expect(outputsAgree(OIP_OUTPUTS, [OIP_OUTPUTS[1]], 'label.data.0')).toBe(false);
  });

  it('never agrees on a missing value', () => {
    expect(outputsAgree({}, {}, 'label')).toBe(false);
    expect(outputsAgree(JSON_OUTPUTS, {}, 'label')).toBe(false);
  });
});

describe(rewardKindOf.name, () => {
  it('is binary for match and continuous otherwise', () => {
    expect(rewardKindOf({ type: 'match' })).toBe('binary');
    expect(rewardKindOf({ type: 'explicit' })).toBe('continuous');
    expect(rewardKindOf({ type: 'negAbsError' })).toBe('continuous');
  });
});

describe(rewardRange.name, () => {
  it('is [0, 1] for match, [min, max] for explicit (default [0, 1]), [-maxError, 0] for negAbsError (default 1)', () => {
    expect(rewardRange({ type: 'match' })).toEqual({ min: 0, max: 1 });
    expect(rewardRange({ type: 'explicit' })).toEqual({ min: 0, max: 1 });
    expect(rewardRange({ type: 'explicit', min: -2, max: 5 })).toEqual({ min: -2, max: 5 });
    expect(rewardRange({ type: 'negAbsError' })).toEqual({ min: -1, max: 0 });
    expect(rewardRange({ type: 'negAbsError', maxError: 30 })).toEqual({ min: -30, max: 0 });
  });
});
