import { jsonOutputsAsTensors } from './tensors';

describe(jsonOutputsAsTensors.name, () => {
  it('makes each field of an object a tensor of its name, with a datatype for its values', () => {
    expect(jsonOutputsAsTensors({ label: 1, score: 0.83, ok: true, tag: 'x' })).toEqual([
      { name: 'label', shape: [1], datatype: 'INT64', data: [1] },
      { name: 'score', shape: [1], datatype: 'FP64', data: [0.83] },
      { name: 'ok', shape: [1], datatype: 'BOOL', data: [true] },
      { name: 'tag', shape: [1], datatype: 'BYTES', data: ['x'] },
    ]);
  });

  it('keeps the shape of rectangular arrays, flattened row-major', () => {
    expect(
      jsonOutputsAsTensors({
        m: [
          [1, 2, 3],
          [4, 5, 6],
        ],
      }),
    ).toEqual([{ name: 'm', shape: [2, 3], datatype: 'INT64', data: [1, 2, 3, 4, 5, 6] }]);
    expect(jsonOutputsAsTensors({ e: [] })).toEqual([{ name: 'e', shape: [0], datatype: 'FP64', data: [] }]);
  });

  it('makes anything but an object one tensor named output', () => {
    expect(jsonOutputsAsTensors([0.1, 0.9])).toEqual([{ name: 'output', shape: [2], datatype: 'FP64', data: [0.1, 0.9] }]);
    expect(jsonOutputsAsTensors(3)).toEqual([{ name: 'output', shape: [1], datatype: 'INT64', data: [3] }]);
  });

  it.each([
    ['a ragged array', { m: [[1, 2], [3]] }, 'output "m" is not a rectangular array'],
    [
      'uneven depth',
      {
        m: [
          [1, 2],
          [3, [4]],
        ],
      },
      'output "m" is not a rectangular array',
    ],
    ['mixed kinds', { m: [1, 'a'] }, 'output "m" mixes kinds of values'],
    ['an object inside', { m: { x: 1 } }, 'output "m" mixes kinds of values or holds objects'],
    ['null', { m: null }, 'holds objects or nulls'],
  ])('refuses %s, saying why', (_case, outputs, message) => {
    expect(() => jsonOutputsAsTensors(outputs)).toThrow(message);
  });
});
