import {
  bfloat16ToNumber,
  decodeContents,
  decodeRaw,
  encodeContents,
  encodeRaw,
  halfToNumber,
  inferRequestFromGrpc,
  inferRequestToGrpc,
  inferResponseFromGrpc,
  inferResponseToGrpc,
  numberToBfloat16,
  numberToHalf,
  OipGrpcError,
  parametersFromGrpc,
  parametersToGrpc,
} from './grpc';
import { ExactInteger } from './json';

/** Little-endian bytes as numpy's `tobytes()` writes them, built independently with Buffer's own writers. */
const bytesOf = (write: (b: Buffer) => void, size: number) => {
  const b = Buffer.alloc(size);
  write(b);
  return b;
};

describe('raw tensor contents', () => {
  it.each([
    ['BOOL', [1], [true], Buffer.from([1])],
    ['UINT8', [2], [0, 255], Buffer.from([0, 255])],
    ['INT8', [2], [-128, 127], Buffer.from([0x80, 0x7f])],
    ['INT16', [1], [-2], Buffer.from([0xfe, 0xff])],
    ['UINT16', [1], [513], Buffer.from([0x01, 0x02])],
    ['INT32', [2], [1, -1], bytesOf((b) => (b.writeInt32LE(1, 0), b.writeInt32LE(-1, 4)), 8)],
    ['UINT32', [1], [4294967295], Buffer.from([0xff, 0xff, 0xff, 0xff])],
    ['FP32', [2], [0.5, -2], bytesOf((b) => (b.writeFloatLE(0.5, 0), b.writeFloatLE(-2, 4)), 8)],
    ['FP64', [1], [0.1], bytesOf((b) => b.writeDoubleLE(0.1, 0), 8)],
    ['FP16', [3], [1, -2, 0.5], Buffer.from([0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38])],
    ['BF16', [2], [1, -2], Buffer.from([0x80, 0x3f, 0x00, 0xc0])],
    ['INT64', [2], [new ExactInteger('-9223372036854775808'), 7], bytesOf((b) => (b.writeBigInt64LE(-(2n ** 63n), 0), b.writeBigInt64LE(7n, 8)), 16)],
    ['UINT64', [1], [new ExactInteger('18446744073709551615')], Buffer.alloc(8, 0xff)],
    ['BYTES', [2], ['hi', ''], Buffer.from([2, 0, 0, 0, 0x68, 0x69, 0, 0, 0, 0])],
  ])('reads and writes %s as numpy and tritonclient lay it out', (datatype, shape, data, bytes) => {
    expect(decodeRaw(datatype, shape, bytes, 'inputs.0')).toEqual(data);
    expect(encodeRaw(datatype, data)).toEqual(bytes);
  });

  it('writes nested data row-major', () => {
    expect(
      encodeRaw('UINT8', [
        [1, 2],
        [3, 4],
      ]),
    ).toEqual(Buffer.from([1, 2, 3, 4]));
  });

  it.each([
    ['too few bytes for the shape', 'INT32', [2], Buffer.alloc(7), 'inputs.0 (INT32, shape [2]) needs 8 bytes of raw contents; 7 were sent'],
    ['a negative dimension', 'INT32', [-1], Buffer.alloc(4), 'inputs.0.shape must be an array of non-negative integers'],
    ['an unknown datatype', 'FLOAT', [1], Buffer.alloc(4), 'inputs.0.datatype "FLOAT" is not an OIP datatype'],
    ['a BYTES length past the end', 'BYTES', [1], Buffer.from([9, 0, 0, 0, 0x61]), 'element 0 says 9 bytes; fewer follow'],
    ['fewer BYTES elements than the shape', 'BYTES', [2], Buffer.from([1, 0, 0, 0, 0x61]), 'hold 1 elements; the shape needs 2'],
    ['BYTES that are not UTF-8', 'BYTES', [1], Buffer.from([1, 0, 0, 0, 0xff]), 'element 0 is not UTF-8 text'],
  ])('refuses %s with the reason', (_case, datatype, shape, bytes, message) => {
    expect(() => decodeRaw(datatype, shape, bytes, 'inputs.0')).toThrow(OipGrpcError);
    expect(() => decodeRaw(datatype, shape, bytes, 'inputs.0')).toThrow(message);
  });
});

describe('16-bit floats', () => {
  it.each([
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [65504, 0x7bff],
    [2 ** -24, 0x0001],
    [Infinity, 0x7c00],
    [1e6, 0x7c00],
  ])('binary16 of %d is %i', (value, bits) => {
    expect(numberToHalf(value)).toBe(bits);
    expect(halfToNumber(bits)).toBe(value > 65504 ? Infinity : value);
  });

  it('rounds to the nearest binary16, ties to even', () => {
    // 1 + 2^-11 is half-way between 1 and 1 + 2^-10: the even one (1) wins; 1 + 3·2^-11 goes up.
    expect(numberToHalf(1 + 2 ** -11)).toBe(0x3c00);
    expect(numberToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(Number.isNaN(halfToNumber(numberToHalf(NaN)))).toBe(true);
  });

  it('bfloat16 keeps the upper half of the float32, rounded to nearest even', () => {
    expect(numberToBfloat16(1)).toBe(0x3f80);
    expect(bfloat16ToNumber(0x3f80)).toBe(1);
    expect(numberToBfloat16(1 + 2 ** -8)).toBe(0x3f80);
    expect(numberToBfloat16(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(bfloat16ToNumber(numberToBfloat16(-3.5))).toBe(-3.5);
  });
});

describe('typed tensor contents', () => {
  it('reads each datatype from its own field, 64-bit integers exact', () => {
    expect(decodeContents('INT64', { int64_contents: ['9007199254740993', '3'], fp32_contents: [] }, 'inputs.0')).toEqual([
      new ExactInteger('9007199254740993'),
      3,
    ]);
    expect(decodeContents('INT8', { int_contents: [-1] }, 'inputs.0')).toEqual([-1]);
    expect(decodeContents('BYTES', { bytes_contents: [Buffer.from('ab')] }, 'inputs.0')).toEqual(['ab']);
    expect(decodeContents('INT32', null, 'inputs.0')).toEqual([]);
  });

  it('writes each datatype to its own field', () => {
    expect(encodeContents('UINT64', [new ExactInteger('18446744073709551615'), 1])).toEqual({ uint64_contents: ['18446744073709551615', '1'] });
    expect(encodeContents('FP32', [[0.5], [1]])).toEqual({ fp32_contents: [0.5, 1] });
    expect(encodeContents('BYTES', ['x'])).toEqual({ bytes_contents: [Buffer.from('x')] });
  });

  it('refuses elements in another datatype’s field, and FP16 or BF16 outside raw contents', () => {
    expect(() => decodeContents('INT64', { fp32_contents: [1] }, 'inputs.1')).toThrow(
      'inputs.1 is INT64: its elements belong in contents.int64_contents, not contents.fp32_contents',
    );
    expect(() => decodeContents('FP16', {}, 'inputs.0')).toThrow('inputs.0 is FP16, which the proto carries in raw contents only');
    expect(() => encodeContents('BF16', [1])).toThrow('raw contents only');
  });
});

describe('parameters', () => {
  it('read every InferParameter kind, 64-bit exact', () => {
    expect(
      parametersFromGrpc({
        a: { bool_param: true, parameter_choice: 'bool_param' },
        b: { int64_param: '-9223372036854775808', parameter_choice: 'int64_param' },
        c: { uint64_param: '5', parameter_choice: 'uint64_param' },
        d: { double_param: 0.25, parameter_choice: 'double_param' },
        e: { string_param: 'x', parameter_choice: 'string_param' },
      }),
    ).toEqual({ a: true, b: new ExactInteger('-9223372036854775808'), c: 5, d: 0.25, e: 'x' });
    expect(parametersFromGrpc({})).toBeUndefined();
  });

  it('write JSON scalars as their kind, and anything else as its JSON text', () => {
    expect(parametersToGrpc({ a: false, b: 3, c: 0.5, d: 's', e: new ExactInteger('18446744073709551615'), f: { k: [1] } })).toEqual({
      a: { bool_param: false },
      b: { int64_param: 3 },
      c: { double_param: 0.5 },
      d: { string_param: 's' },
      e: { uint64_param: '18446744073709551615' },
      f: { string_param: '{"k":[1]}' },
    });
  });
});

describe('inference messages', () => {
  const request = {
    id: 'r1',
    parameters: { unitKey: 'u1' },
    inputs: [{ name: 'INPUT0', datatype: 'INT64', shape: [2], data: [new ExactInteger('9007199254740993'), 1] }],
    outputs: [{ name: 'OUTPUT0' }],
  };

  it('a request survives the trip to gRPC and back, typed', () => {
    const message = inferRequestToGrpc('m', '2', request);
    expect(message.raw_input_contents).toBeUndefined();
    expect(message.inputs[0].contents).toEqual({ int64_contents: ['9007199254740993', '1'] });
    // What the wire gives back: every parameter with its oneof case named.
    const received = { ...message, parameters: { unitKey: { string_param: 'u1', parameter_choice: 'string_param' } } };
    expect(inferRequestFromGrpc(received)).toEqual({ model: 'm', version: '2', request, raw: false });
  });

  it('sends every input raw when one has no typed field, and reads raw inputs back', () => {
    const half = { inputs: [...request.inputs, { name: 'INPUT1', datatype: 'FP16', shape: [1], data: [0.5] }] };
    const message = inferRequestToGrpc('m', undefined, half);
    expect(message.model_version).toBe('');
    expect(message.inputs.every((tensor) => tensor.contents === undefined)).toBe(true);
    expect(message.raw_input_contents).toHaveLength(2);
    expect(inferRequestFromGrpc(message)).toEqual({ model: 'm', request: half, raw: true });
  });

  it('refuses raw contents that do not pair with the inputs, or come with typed contents', () => {
    const message = inferRequestToGrpc('m', undefined, request);
    expect(() => inferRequestFromGrpc({ ...message, raw_input_contents: [Buffer.alloc(16), Buffer.alloc(1)] })).toThrow(
      'raw_input_contents has 2 entries; inputs has 1 tensors',
    );
    expect(() => inferRequestFromGrpc({ ...message, raw_input_contents: [Buffer.alloc(16)] })).toThrow('inputs.0 has contents while raw_input_contents is set');
  });

  it('answers raw when asked, or when an output has no typed field, and typed otherwise', () => {
    const response = { model_name: 'm', model_version: 'v1', id: 'r1', outputs: [{ name: 'o', datatype: 'FP32', shape: [1], data: [0.5] }] };
    expect(inferResponseToGrpc(response, false).outputs[0].contents).toEqual({ fp32_contents: [0.5] });
    const raw = inferResponseToGrpc(response, true);
    expect(raw.raw_output_contents).toEqual([bytesOf((b) => b.writeFloatLE(0.5, 0), 4)]);
    expect(inferResponseFromGrpc(raw)).toEqual(response);
    const half = { ...response, outputs: [{ name: 'o', datatype: 'BF16', shape: [1], data: [2] }] };
    expect(inferResponseToGrpc(half, false).raw_output_contents).toEqual([Buffer.from([0x00, 0x40])]);
  });

  describe('raw contents kept as bytes (the router)', () => {
    const x = Buffer.from(new Float32Array([0.5, -1, 3.25]).buffer);
    const label = Buffer.from(new Int32Array([7]).buffer);
    const wire = [
      { name: 'x', datatype: 'FP32', shape: [3], parameters: { binary_data_size: 12 } },
      { name: 'small', datatype: 'INT32', shape: [1], data: [2] },
    ];

    it('reads raw inputs into the binary extension form, bytes unchanged, and sends binary inputs raw as they are', () => {
      const message = inferRequestToGrpc('m', undefined, { inputs: wire as never }, x);
      expect(message.raw_input_contents).toEqual([x, Buffer.from(new Int32Array([2]).buffer)]);
      expect(message.inputs[0].parameters).toBeUndefined();
      const call = inferRequestFromGrpc(message, true);
      expect(call.raw).toBe(true);
      expect(call.request.inputs).toEqual([wire[0], { name: 'small', datatype: 'INT32', shape: [1], parameters: { binary_data_size: 4 } }]);
      expect(call.binary).toEqual(Buffer.concat([x, Buffer.from(new Int32Array([2]).buffer)]));
      expect(() => inferRequestFromGrpc({ ...message, raw_input_contents: [x.subarray(4), label] }, true)).toThrow('inputs.0 (FP32, shape [3]) needs 12 bytes');
    });

    it('answers binary outputs raw from their chunks, the JSON ones encoded, and reads raw outputs back as bytes', () => {
      const response = { model_name: 'm', outputs: [{ name: 'label', datatype: 'INT32', shape: [1], parameters: { binary_data_size: 4 } }, wire[1]] };
      const message = inferResponseToGrpc(response as never, false, [label]);
      expect(message.raw_output_contents).toEqual([label, Buffer.from(new Int32Array([2]).buffer)]);
      const read = inferResponseFromGrpc(message, true);
      expect(read.binary).toEqual(Buffer.concat(message.raw_output_contents!));
      expect(read.outputs[0]).toEqual(response.outputs[0]);
    });
  });
});
