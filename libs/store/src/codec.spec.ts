import { decodeNumberRecord, parseJson, UndecodableRecord } from './codec';

describe(decodeNumberRecord.name, () => {
  const positive = (value: number) => value > 0;

  it('decodes an object of valid numbers into a record without a prototype', () => {
    const sut = decodeNumberRecord('{"v1":1,"constructor":2}', positive);
    expect(sut).toEqual({ v1: 1, constructor: 2 });
    expect(Object.getPrototypeOf(sut)).toBeNull();
  });

  it.each(['{"v1":0}', '{"v1":"1"}', '[1]', 'null', '3', '{oops'])('refuses %s', (json) => {
    expect(decodeNumberRecord(json, positive)).toBeUndefined();
  });
});

describe(parseJson.name, () => {
  it('answers the value, or why it is not JSON', () => {
    expect(parseJson('{"a":1}')).toEqual({ ok: true, value: { a: 1 } });
    expect(parseJson('{oops')).toEqual({ ok: false, problems: [expect.stringMatching(/^not JSON: /)] });
  });
});

describe(UndecodableRecord.name, () => {
  it('says what could not be decoded and why', () => {
    const sut = new UndecodableRecord('spec churn@2', ['name must be a string']);
    expect(sut.message).toBe('spec churn@2 in Redis cannot be decoded: name must be a string');
    expect(sut.problems).toEqual(['name must be a string']);
  });
});
