import { ExactInteger } from './json';
import { tensorProblems } from './rules';

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
