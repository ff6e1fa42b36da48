import { ExactInteger } from './json';
import { inferRequestProblems, requestLimitProblem, tensorProblems } from './rules';

const tensor = (over: Record<string, unknown> = {}) => ({ name: 'x', shape: [2, 2], datatype: 'INT32', data: [1, 2, 3, 4], ...over });

describe('tensorProblems', () => {
  it.each([
    ['a flat tensor', tensor()],
    [
      'a nested tensor',
      tensor({
        data: [
          [1, 2],
          [3, 4],
        ],
      }),
    ],
    ['an empty tensor', tensor({ shape: [0, 4], data: [] })],
    ['INT64 beyond 2^53', tensor({ datatype: 'INT64', shape: [1], data: [new ExactInteger('9223372036854775807')] })],
    ['UINT64 at its maximum', tensor({ datatype: 'UINT64', shape: [1], data: [new ExactInteger('18446744073709551615')] })],
    ['BYTES', tensor({ datatype: 'BYTES', shape: [1], data: ['hello'] })],
    ['BOOL', tensor({ datatype: 'BOOL', shape: [2], data: [true, false] })],
    ['FP16', tensor({ datatype: 'FP16', shape: [1], data: [0.5] })],
    ['BF16', tensor({ datatype: 'BF16', shape: [1], data: [0.5] })],
  ])('accepts %s', (_case, t) => expect(tensorProblems(t, 'inputs.0')).toEqual([]));

  it.each([
    ['an unknown datatype', tensor({ datatype: 'FLOAT' }), 'inputs.0.datatype must be one of'],
    ['too few elements for its shape', tensor({ data: [1, 2, 3] }), 'inputs.0.data has 3 elements; shape [2, 2] needs 4'],
    ['a negative dimension', tensor({ shape: [-1, 4] }), 'inputs.0.shape must be an array of non-negative integers'],
    ['INT8 out of range', tensor({ datatype: 'INT8', shape: [1], data: [128] }), 'element 0 (128) is not a valid INT8'],
    ['UINT64 below zero', tensor({ datatype: 'UINT64', shape: [1], data: [-1] }), 'is not a valid UINT64'],
    ['INT64 past 2^63', tensor({ datatype: 'INT64', shape: [1], data: [new ExactInteger('9223372036854775808')] }), 'is not a valid INT64'],
    ['a fraction in an integer tensor', tensor({ data: [1, 2, 3, 4.5] }), 'element 3 (4.5) is not a valid INT32'],
    ['a number in a BOOL tensor', tensor({ datatype: 'BOOL', shape: [1], data: [1] }), 'is not a valid BOOL'],
    ['an object element', tensor({ data: [1, 2, 3, { x: 1 }] }), 'must hold numbers, strings or booleans'],
  ])('refuses %s', (_case, t, message) => expect(tensorProblems(t, 'inputs.0').join('; ')).toContain(message));
});

describe('requestLimitProblem (issue #25: bounded work per request)', () => {
  const limits = { maxTensors: 3, maxElements: 12 };
  const body = (inputs: unknown[], outputs?: unknown[]) => ({ inputs, ...(outputs && { outputs }) });

  it('refuses more tensors than allowed, or more elements than allowed in all, before reading any tensor', () => {
    expect(requestLimitProblem(body([tensor(), tensor(), tensor()]), limits)).toBeUndefined();
    expect(requestLimitProblem(body(Array.from({ length: 4 }, () => 'not even a tensor')), limits)).toBe(
      'inputs has 4 tensors; at most 3 are accepted in one request',
    );
    expect(requestLimitProblem(body([tensor()], [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }]), limits)).toBe(
      'outputs names 4 tensors; at most 3 are accepted in one request',
    );
    expect(requestLimitProblem(body([tensor(), tensor(), tensor({ shape: [5], data: [1, 2, 3, 4, 5] })]), limits)).toBe(
      'inputs declare 13 elements in all; at most 12 are accepted in one request',
    );
    // A shape that is not one counts its data (tensorProblems refuses it): a negative dimension cannot hide elements.
    expect(requestLimitProblem(body([tensor({ shape: [-100], data: [1] }), tensor({ shape: [12], data: [] })]), limits)).toBe(
      'inputs declare 13 elements in all; at most 12 are accepted in one request',
    );
  });

  it('is what inferRequestProblems answers first, alone', () => {
    const many = body(Array.from({ length: 14000 }, () => ({ name: 'x', shape: [1], datatype: 'FP32', data: ['bad'] })));
    expect(inferRequestProblems(many)).toEqual(['inputs has 14000 tensors; at most 256 are accepted in one request']);
  });

  it('quotes at most 64 characters of a bad element', () => {
    const [problem] = tensorProblems(tensor({ datatype: 'FP32', shape: [1], data: ['y'.repeat(1_000_000)] }), 'inputs.0');
    expect(problem).toBe(`inputs.0.data element 0 (${'y'.repeat(64)}… (1000000 characters)) is not a valid FP32`);
  });
});
