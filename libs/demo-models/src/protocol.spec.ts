import { predict } from './models';
import { featuresFromInferInputs, featuresFromJsonInputs, toInferInputs, toInferOutputs, toJsonOutputs } from './protocol';

describe(toInferInputs.name, () => {
  it('makes a [1, 4] FP32 tensor for one vector and [n, 4] for a batch', () => {
    expect(toInferInputs([0.1, 0.2, 0.3, 0.4])).toEqual([{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [0.1, 0.2, 0.3, 0.4] }]);
    expect(
      toInferInputs([
        [1, 2, 3, 4],
        [5, 6, 7, 8],
      ]),
    ).toEqual([{ name: 'features', shape: [2, 4], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6, 7, 8] }]);
  });
});

describe(featuresFromInferInputs.name, () => {
  const sut = featuresFromInferInputs;

  it('reads back what toInferInputs makes', () => {
    expect(sut(toInferInputs([0.1, 0.2, 0.3, 0.4]))).toEqual([[0.1, 0.2, 0.3, 0.4]]);
    expect(
      sut(
        toInferInputs([
          [1, 2, 3, 4],
          [5, 6, 7, 8],
        ]),
      ),
    ).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ]);
  });

  it('accepts shape [4], nested data, other numeric datatypes and extra tensors', () => {
    expect(sut([{ name: 'features', shape: [4], datatype: 'FP64', data: [1, 2, 3, 4] }])).toEqual([[1, 2, 3, 4]]);
    expect(
      sut([
        {
          name: 'features',
          shape: [2, 4],
          datatype: 'INT32',
          data: [
            [1, 2, 3, 4],
            [5, 6, 7, 8],
          ],
        },
      ]),
    ).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ]);
    const extra = { name: 'other', shape: [1], datatype: 'BYTES', data: ['x'] };
    expect(sut([extra, ...toInferInputs([1, 2, 3, 4])])).toEqual([[1, 2, 3, 4]]);
  });

  it.each([
    ['not an array', { name: 'features' }, 'inputs must be an array of tensors'],
    ['no tensors', [], 'missing input tensor "features" (shape [n, 4]); got no tensors'],
    ['a wrongly named tensor', [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }], 'missing input tensor "features" (shape [n, 4]); got "x"'],
    [
      'a BYTES tensor',
      [{ name: 'features', shape: [1, 4], datatype: 'BYTES', data: ['a', 'b', 'c', 'd'] }],
      'input tensor "features" must have a numeric datatype such as FP32; got "BYTES"',
    ],
    [
      'a [1, 3] shape',
      [{ name: 'features', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }],
      'input tensor "features" must have shape [n, 4] or [4]; got [1,3]',
    ],
    ['a 3-d shape', [{ name: 'features', shape: [1, 1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }], 'must have shape [n, 4] or [4]; got [1,1,4]'],
    ['no rows', [{ name: 'features', shape: [0, 4], datatype: 'FP32', data: [] }], 'input tensor "features" must hold at least one row; got shape [0,4]'],
    [
      'too few values',
      [{ name: 'features', shape: [2, 4], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }],
      'input tensor "features" has shape [2,4] so needs 8 values; got 6',
    ],
    ['too many values', [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4, 5] }], 'has shape [1,4] so needs 4 values; got 5'],
    [
      'a string value',
      [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, '2', 3, 4] }],
      'input tensor "features" value 1 must be a finite number; got "2"',
    ],
    ['a null value', [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, null] }], 'value 3 must be a finite number; got null'],
    ['no data array', [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: 'abcd' }], 'input tensor "features" must have a data array'],
  ])('rejects %s with a clear message', (_case, inputs, message) => {
    expect(() => sut(inputs)).toThrow(message);
  });
});

describe(featuresFromJsonInputs.name, () => {
  const sut = featuresFromJsonInputs;

  it('reads one vector, bare or under "features", and batches', () => {
    expect(sut([1, 2, 3, 4])).toEqual({ rows: [[1, 2, 3, 4]], batched: false });
    expect(sut({ features: [1, 2, 3, 4] })).toEqual({ rows: [[1, 2, 3, 4]], batched: false });
    expect(
      sut([
        [1, 2, 3, 4],
        [5, 6, 7, 8],
      ]),
    ).toEqual({
      rows: [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
      ],
      batched: true,
    });
    expect(sut({ features: [[1, 2, 3, 4]] })).toEqual({ rows: [[1, 2, 3, 4]], batched: true });
  });

  it.each([
    ['a string', 'abc', 'inputs must be {"features": [4 numbers]}'],
    ['an object without features', { x: [1, 2, 3, 4] }, 'inputs must be {"features": [4 numbers]}'],
    ['a short vector', [1, 2, 3], 'inputs must have 4 numbers; got 3'],
    ['an empty vector', [], 'inputs must have 4 numbers; got 0'],
    [
      'a bad batch row',
      [
        [1, 2, 3, 4],
        [1, 2],
      ],
      'inputs row 1 must have 4 numbers; got 2',
    ],
    ['a mix of rows and numbers', [[1, 2, 3, 4], 5], 'inputs must be {"features": [4 numbers]}'],
    ['a non-number', { features: [1, 2, 'x', 4] }, 'inputs value 2 must be a finite number; got "x"'],
  ])('rejects %s', (_case, inputs, message) => {
    expect(() => sut(inputs)).toThrow(message);
  });
});

describe(toInferOutputs.name, () => {
  it('makes label (INT64) and score (FP32) tensors of shape [n]', () => {
    const predictions = [predict('churn-perfect', [1, 0, 0, 0]), predict('churn-perfect', [0, 0, 1, 0])];
    const [label, score] = toInferOutputs(predictions);
    expect(label).toEqual({ name: 'label', shape: [2], datatype: 'INT64', data: [1, 0] });
    expect(score).toMatchObject({ name: 'score', shape: [2], datatype: 'FP32' });
    expect(toJsonOutputs(predictions, true)).toEqual({ label: [1, 0], score: score.data });
    expect(toJsonOutputs(predictions.slice(0, 1), false)).toEqual({ label: 1, score: score.data[0] });
  });
});
