import { binaryBody, binaryDataProblems, bytesOf, clientOutputs, decodeAll, decodeTensorData, OipWireTensor, splitBinaryBody, wantsBinary } from './binary';
import { eventOutputs, MAX_EVENT_DECODED_BYTES, scoredOutput } from './event-outputs';
import { ExactInteger } from './json';
import { tensorProblems } from './rules';

const le32 = (...values: number[]) => Buffer.concat(values.map((v) => Buffer.from(new Uint32Array([v]).buffer)));
const bytesElements = (...items: string[]) => Buffer.concat(items.flatMap((item) => [le32(Buffer.byteLength(item)), Buffer.from(item)]));
const binaryTensor = (name: string, datatype: string, shape: number[], size: number, parameters: Record<string, unknown> = {}): OipWireTensor => ({
  name,
  datatype,
  shape,
  parameters: { ...parameters, binary_data_size: size },
});

describe(splitBinaryBody.name, () => {
  it('splits the JSON header from the tensor bytes at Inference-Header-Content-Length, without copying them', () => {
    const body = Buffer.concat([Buffer.from('{"inputs":[]}'), Buffer.from([1, 2, 3])]);
    const { header, binary } = splitBinaryBody([body], '13');
    expect(header).toBe('{"inputs":[]}');
    expect(binary.map((chunk) => [...chunk])).toEqual([[1, 2, 3]]);
    expect(binary[0].buffer).toBe(body.buffer);
  });

  it('reads a header split across chunks, and leaves the bytes after it in their chunks, as views', () => {
    const body = [Buffer.from('{"inpu'), Buffer.from('ts":[]}'), Buffer.from([1, 2]), Buffer.from([3])];
    const { header, binary } = splitBinaryBody([body[0], Buffer.concat([body[1], body[2]]), body[3]], '13');
    expect(header).toBe('{"inputs":[]}');
    expect(binary.map((chunk) => [...chunk])).toEqual([[1, 2], [3]]);
    expect(binary[1]).toBe(body[3]);
  });

  it.each([
    ['a length that is not a number', 'x', 'must be a number of bytes'],
    ['a length past the body', '99', 'is 99, but the body has 4 bytes'],
    ["a raw binary body, which needs the model's metadata to read", '0', 'raw binary body'],
  ])('refuses %s', (_case, length, message) => {
    expect(() => splitBinaryBody([Buffer.from('{}'), Buffer.from('{}')], length)).toThrow(message);
  });

  it('is the inverse of binaryBody', () => {
    const { parts, headerLength, length } = binaryBody({ id: 'a', n: new ExactInteger('9007199254740993') }, [Buffer.from([9]), Buffer.from([8, 7])]);
    expect(Buffer.concat(parts).length).toBe(length);
    const { header, binary } = splitBinaryBody(parts, String(headerLength));
    expect(header).toBe('{"id":"a","n":9007199254740993}');
    expect([...Buffer.concat(binary)]).toEqual([9, 8, 7]);
  });
});

describe(bytesOf.name, () => {
  const chunks = [Buffer.from([0, 1, 2]), Buffer.from([3, 4]), Buffer.from([5, 6, 7])];

  it('gives a range one chunk holds as a view of it, not a copy', () => {
    const bytes = bytesOf(chunks, 3, 5);
    expect([...bytes]).toEqual([3, 4]);
    expect(bytes.buffer).toBe(chunks[1].buffer);
  });

  it('joins a range across chunks, and the whole when no range is given', () => {
    expect([...bytesOf(chunks, 2, 7)]).toEqual([2, 3, 4, 5, 6]);
    expect([...bytesOf(chunks)]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(bytesOf([], 0, 0).length).toBe(0);
  });
});

describe(binaryDataProblems.name, () => {
  it("accepts the spec's example: 16 bytes of UINT32 [2, 2] then 3 bytes of BOOL [3], beside a JSON tensor", () => {
    const tensors = [
      binaryTensor('input0', 'UINT32', [2, 2], 16),
      { name: 'j', datatype: 'INT32', shape: [1], data: [1] },
      binaryTensor('input1', 'BOOL', [3], 3),
    ];
    expect(binaryDataProblems(tensors, [Buffer.alloc(10), Buffer.alloc(9)], 'inputs')).toEqual([]);
  });

  it('accepts BYTES elements that fill their data exactly', () => {
    const data = bytesElements('ab', '', 'héllo');
    expect(binaryDataProblems([binaryTensor('s', 'BYTES', [3], data.length)], [data], 'inputs')).toEqual([]);
    // Split anywhere, even inside a length prefix.
    expect(binaryDataProblems([binaryTensor('s', 'BYTES', [3], data.length)], [data.subarray(0, 9), data.subarray(9)], 'inputs')).toEqual([]);
  });

  it.each([
    [
      'a size that does not fit shape and datatype',
      [binaryTensor('x', 'FP32', [2], 7)],
      7,
      'inputs.0: binary_data_size is 7, but shape [2] of FP32 needs 8 bytes',
    ],
    [
      'sizes that add up to less than the data',
      [binaryTensor('x', 'FP32', [2], 8)],
      9,
      "the binary data is 9 bytes, but the inputs' binary_data_size add up to 8",
    ],
    [
      'a size past the end of the data',
      [binaryTensor('x', 'FP64', [2], 16)],
      8,
      'inputs.0: binary_data_size 16 runs past the end of the binary data (8 bytes left)',
    ],
    ['a size that is not an integer', [binaryTensor('x', 'FP32', [1], 4.5)], 4, 'inputs.0.parameters.binary_data_size must be a non-negative integer'],
  ])('refuses %s', (_case, tensors, bytes, message) => {
    expect(binaryDataProblems(tensors, [Buffer.alloc(bytes)], 'inputs')).toContain(message);
  });

  it('refuses BYTES data whose lengths do not fill it, or hold another number of elements', () => {
    const data = bytesElements('ab', 'c');
    expect(binaryDataProblems([binaryTensor('s', 'BYTES', [2], data.length - 1)], [data.subarray(0, -1)], 'inputs')[0]).toContain(
      'not a sequence of 4-byte lengths',
    );
    expect(binaryDataProblems([binaryTensor('s', 'BYTES', [3], data.length)], [data], 'inputs')[0]).toContain('holds 2 elements; shape [3] needs 3');
  });

  it('refuses binary_data_size in a body without binary data', () => {
    expect(binaryDataProblems([binaryTensor('x', 'FP32', [1], 4)], undefined, 'inputs')[0]).toContain('has no binary data');
  });

  it('leaves the data out of the JSON rules of a binary tensor, and refuses a tensor with both', () => {
    expect(tensorProblems(binaryTensor('x', 'FP32', [2], 8), 'inputs.0')).toEqual([]);
    expect(tensorProblems({ ...binaryTensor('x', 'FP32', [1], 4), data: [1] }, 'inputs.0')).toEqual([
      'inputs.0 has both data and parameters.binary_data_size; binary data follows the JSON',
    ]);
  });
});

describe(decodeTensorData.name, () => {
  it('decodes fixed-size datatypes little-endian', () => {
    expect(decodeTensorData('INT32', Buffer.from([1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]))).toEqual([1, -1]);
    expect(decodeTensorData('UINT16', Buffer.from([0x34, 0x12]))).toEqual([0x1234]);
    expect(decodeTensorData('BOOL', Buffer.from([1, 0, 1]))).toEqual([true, false, true]);
    expect(decodeTensorData('FP32', Buffer.from(new Float32Array([0.5, -2]).buffer))).toEqual([0.5, -2]);
    expect(decodeTensorData('FP64', Buffer.from(new Float64Array([0.1]).buffer))).toEqual([0.1]);
  });

  it('keeps INT64 and UINT64 beyond 2^53 exact', () => {
    const bytes = Buffer.from(new BigInt64Array([9007199254740993n, -5n]).buffer);
    expect(decodeTensorData('INT64', bytes)).toEqual([new ExactInteger('9007199254740993'), -5]);
    expect(decodeTensorData('UINT64', Buffer.alloc(8, 0xff))).toEqual([new ExactInteger('18446744073709551615')]);
  });

  it('decodes FP16 (normal, subnormal, infinite) and BF16 to the numbers they are', () => {
    // 0x3c00 = 1, 0xc100 = -2.5, 0x0001 = 2^-24, 0x7c00 = Infinity (IEEE 754 binary16).
    expect(decodeTensorData('FP16', Buffer.from(new Uint16Array([0x3c00, 0xc100, 0x0001, 0x7c00]).buffer))).toEqual([1, -2.5, 2 ** -24, Infinity]);
    // 0x3f80 = 1, 0xbfc0 = -1.5 (the upper halves of the binary32 values).
    expect(decodeTensorData('BF16', Buffer.from(new Uint16Array([0x3f80, 0xbfc0]).buffer))).toEqual([1, -1.5]);
  });

  it('decodes BYTES elements, each a 4-byte length and its bytes, as strings', () => {
    expect(decodeTensorData('BYTES', bytesElements('ab', '', 'héllo'))).toEqual(['ab', '', 'héllo']);
  });
});

describe('outputs of a binary answer', () => {
  const binary = Buffer.concat([Buffer.from(new Float32Array([0.25, 0.75]).buffer), Buffer.from(new BigInt64Array([1n]).buffer)]);
  const outputs = [binaryTensor('probs', 'FP32', [2], 8), { name: 'json', datatype: 'INT32', shape: [1], data: [3] }, binaryTensor('label', 'INT64', [1], 8)];

  it('go to the client binary where it asked, decoded where it did not, without the tensor the router added', () => {
    const request = { outputs: [{ name: 'probs', parameters: { binary_data: true } }, { name: 'json' }] };
    const answer = clientOutputs(outputs, binary, (name) => wantsBinary(request, name), 'label');
    expect(answer.outputs).toEqual(outputs.slice(0, 2));
    expect(answer.chunks).toEqual([binary.subarray(0, 8)]);
    const decoded = clientOutputs(outputs, binary, () => false);
    expect(clientOutputs(outputs, binary, () => true).chunks).toEqual([binary.subarray(0, 8), binary.subarray(8)]);
    expect(decoded.chunks).toEqual([]);
    expect(decoded.outputs[0]).toEqual({ name: 'probs', datatype: 'FP32', shape: [2], data: [0.25, 0.75] });
    expect(decoded.outputs[2]).toEqual({ name: 'label', datatype: 'INT64', shape: [1], data: [1] });
    expect(decodeAll(outputs, binary)).toEqual(decoded.outputs);
  });

  it("follow binary_data_output unless an output's own binary_data says otherwise", () => {
    const request = { parameters: { binary_data_output: true }, outputs: [{ name: 'a', parameters: { binary_data: false } }, { name: 'b' }] };
    expect(wantsBinary(request, 'a')).toBe(false);
    expect(wantsBinary(request, 'b')).toBe(true);
    expect(wantsBinary({}, 'b')).toBe(false);
  });

  it('reach events as the scored tensor decoded and the others as a digest, never their bytes', () => {
    const events = eventOutputs(outputs, binary, scoredOutput('label.data.0')) as OipWireTensor[];
    expect(events[2]).toEqual({ name: 'label', datatype: 'INT64', shape: [1], data: [1] });
    expect(events[1]).toBe(outputs[1]);
    expect(events[0]).toEqual({
      name: 'probs',
      datatype: 'FP32',
      shape: [2],
      parameters: { binary_data_size: 8, binary_data_sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
    });
    // Equal bytes give equal digests (a shadow that agrees), other bytes another.
    const again = eventOutputs(outputs, Buffer.from(binary), 'label') as OipWireTensor[];
    expect(again[0]).toEqual(events[0]);
    const other = eventOutputs(outputs, Buffer.concat([Buffer.alloc(8), binary.subarray(8)]), 'label') as OipWireTensor[];
    expect(other[0]).not.toEqual(events[0]);
    // Without a reward path the first output is the scored one, as the reward's default path reads it.
    expect((eventOutputs(outputs, binary, scoredOutput(undefined)) as OipWireTensor[])[0].data).toEqual([0.25, 0.75]);
    expect(eventOutputs(outputs, undefined)).toBe(outputs);
  });

  it('give a scored tensor past MAX_EVENT_DECODED_BYTES as a digest too', () => {
    const big = Buffer.alloc(MAX_EVENT_DECODED_BYTES + 4);
    const [event] = eventOutputs([binaryTensor('x', 'FP32', [big.length / 4], big.length)], big, 'x') as OipWireTensor[];
    expect(event.data).toBeUndefined();
    expect(event.parameters).toMatchObject({ binary_data_size: big.length });
  });

  it('give a JSON tensor past MAX_EVENT_DECODED_BYTES, scored or not, by the digest its binary form has; smaller JSON tensors as they are', () => {
    const values = Array.from({ length: MAX_EVENT_DECODED_BYTES / 2 }, (_, i) => i / 8);
    const bytes = Buffer.from(new Float32Array(values).buffer);
    const small = { name: 'label', datatype: 'INT64', shape: [1], data: [1] };
    const outputs = [{ name: 'y', datatype: 'FP32', shape: [values.length], data: values }, small];
    const events = eventOutputs(outputs, undefined, 'y') as OipWireTensor[];
    const asBinary = eventOutputs([binaryTensor('y', 'FP32', [values.length], bytes.length)], bytes, 'label') as OipWireTensor[];
    expect(events[0]).toEqual(asBinary[0]);
    expect(events[0].data).toBeUndefined();
    expect(events[1]).toBe(small);
    // Just over the limit as JSON, though few elements: measured, not guessed.
    const text = ['x'.repeat(MAX_EVENT_DECODED_BYTES)];
    expect((eventOutputs([{ name: 's', datatype: 'BYTES', shape: [1], data: text }], undefined) as OipWireTensor[])[0].data).toBeUndefined();
    expect(eventOutputs([small], undefined)).toEqual([small]);
  });
});
