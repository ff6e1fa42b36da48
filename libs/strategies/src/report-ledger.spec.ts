import { ReportLedger } from './report-ledger';

describe(ReportLedger.name, () => {
  let sut: ReportLedger;
  beforeEach(() => (sut = new ReportLedger()));

  const message = (offset: number, ...fields: string[]) => ({ offset: String(offset), fields, sums: [] as [string, number][] });

  it('adds what each message adds, and moves the position to the batch last offset', () => {
    sut.add({
      topic: 'p',
      partition: 0,
      lastOffset: '7',
      counted: [message(3, 'a:served:requests'), { ...message(7, 'a:served:requests'), sums: [['a:served:ipw@1', 5]] }],
    });
    expect(Object.fromEntries(sut.counters)).toEqual({ 'a:served:requests': 2, 'a:served:ipw@1': 5 });
    expect(Object.fromEntries(sut.positions)).toEqual({ 'p:0': '7' });
  });

  it('counts a redelivered batch once, per topic-partition', () => {
    const batch = { topic: 'p', partition: 0, lastOffset: '2', counted: [message(2, 'a:served:requests')] };
    sut.add(batch);
    sut.add(batch);
    sut.add({ ...batch, partition: 1 });
    sut.add({ topic: 'p', partition: 0, lastOffset: '4', counted: [message(2, 'a:served:requests'), message(4, 'a:served:errors')] });
    expect(Object.fromEntries(sut.counters)).toEqual({ 'a:served:requests': 2, 'a:served:errors': 1 });
    expect(Object.fromEntries(sut.positions)).toEqual({ 'p:0': '4', 'p:1': '2' });
  });

  it('moves the position past messages it did not count (repeats of a first copy)', () => {
    sut.add({ topic: 'p', partition: 0, lastOffset: '9', counted: [] });
    sut.add({ topic: 'p', partition: 0, lastOffset: '5', counted: [message(5, 'a:served:requests')] });
    expect(sut.counters.size).toBe(0);
    expect(sut.positions.get('p:0')).toBe('9');
  });
});
