import { ExactInteger, MAX_OIP_JSON_DEPTH, OipJsonError, oipParse, oipStringify, reviveExactIntegers } from './json';

describe('oipParse and oipStringify', () => {
  it('keep 64-bit integers beyond 2^53 digit for digit', () => {
    const text = '{"data":[9007199254740993,-9223372036854775808,18446744073709551615,1.5,7],"s":"9007199254740993"}';
    const value = oipParse(text) as { data: unknown[]; s: string };
    expect(value.data[0]).toEqual(new ExactInteger('9007199254740993'));
    expect(value.data.slice(3)).toEqual([1.5, 7]);
    expect(value.s).toBe('9007199254740993');
    expect(oipStringify(value)).toBe(text);
  });

  it('parse bodies without long integers as JSON.parse does', () => {
    const text = '{"data":[0.1234567890123456789,1e300,123456789012345]}';
    expect(oipParse(text)).toEqual(JSON.parse(text));
    expect(oipStringify(JSON.parse(text))).toBe(JSON.stringify(JSON.parse(text)));
  });

  it('write an ExactInteger as a string of its digits anywhere else (events, logs)', () => {
    expect(JSON.stringify({ n: new ExactInteger('9007199254740993') })).toBe('{"n":"9007199254740993"}');
  });

  it('never take a string a client sent for a big integer', () => {
    const text = '{"s":"\\u0000exact-000000000000:5","n":[12345678901234567]}';
    expect(oipStringify(oipParse(text))).toBe(text);
  });

  it('refuse invalid JSON and nesting deeper than the cap, before parsing it', () => {
    expect(() => oipParse('{"inputs": [')).toThrow(OipJsonError);
    const deep = '['.repeat(MAX_OIP_JSON_DEPTH + 1) + ']'.repeat(MAX_OIP_JSON_DEPTH + 1);
    expect(() => oipParse(deep)).toThrow(`at most ${MAX_OIP_JSON_DEPTH}`);
    expect(() => oipParse('{"s":"' + '['.repeat(100) + '"}')).not.toThrow();
    expect(() => oipParse('{"s":"\\"' + '['.repeat(100) + '"}')).not.toThrow();
    expect(() => oipParse('{"s":"\\\\"' + ',"t":' + deep + '}')).toThrow(`at most ${MAX_OIP_JSON_DEPTH}`);
  });

  it('revive 64-bit integers an event wrote as strings, in INT64 and UINT64 tensors only', () => {
    const tensors = [
      { name: 'a', datatype: 'INT64', shape: [2], data: ['9007199254740993', 1] },
      { name: 'b', datatype: 'BYTES', shape: [1], data: ['9007199254740993'] },
    ];
    expect(oipStringify(reviveExactIntegers(tensors))).toBe(
      '[{"name":"a","datatype":"INT64","shape":[2],"data":[9007199254740993,1]},{"name":"b","datatype":"BYTES","shape":[1],"data":["9007199254740993"]}]',
    );
  });
});
