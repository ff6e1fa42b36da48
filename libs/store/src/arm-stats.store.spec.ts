import { chunkProblem } from '@switchyard/contracts';
import { chunksByDeployment, parseStats, STATISTICS_KINDS, statsFields } from './arm-stats.store';

describe('STATISTICS_KINDS', () => {
  it('are hash kinds a checkpoint may carry (a checkpoint with one that is not is skipped whole on restore)', () => {
    const hashes = STATISTICS_KINDS.map((kind) => ({ deployment: 'churn', kind, ttlMs: 0, fields: { a: '1' } }));
    expect(chunkProblem({ store: 'statistics', id: '0123456789abcdef', index: 0, hashes })).toBeUndefined();
  });
});

describe(parseStats.name, () => {
  it('keeps variants named like Object.prototype members as arms, without touching Object.prototype', () => {
    const sut = parseStats({
      'constructor:count': '2',
      'constructor:sum': '1',
      'constructor:sumSq': '1',
      '__proto__:count': '3',
      '__proto__:sum': '3',
      '__proto__:sumSq': '3',
      'toString:shadow:count': '1',
      'v1:count': '1',
    });
    expect(Object.keys(sut).sort()).toEqual(['__proto__', 'constructor', 'toString:shadow', 'v1']);
    expect(sut['constructor']).toEqual({ count: 2, sum: 1, sumSq: 1 });
    expect(sut['__proto__']).toEqual({ count: 3, sum: 3, sumSq: 3 });
    expect(sut['toString:shadow']).toEqual({ count: 1, sum: 0, sumSq: 0 });
    expect(({} as Record<string, unknown>).count).toBeUndefined();
    expect((Object as unknown as Record<string, unknown>).count).toBeUndefined();
  });
});

describe(statsFields.name, () => {
  it('gives the fields parseStats reads back, shadow arms included', () => {
    const arms = { v1: { count: 400, sum: 360, sumSq: 360 }, 'v1:shadow': { count: 2, sum: 0.5, sumSq: 0.25 } };

    const sut = statsFields(arms);

    expect(sut).toEqual({ 'v1:count': 400, 'v1:sum': 360, 'v1:sumSq': 360, 'v1:shadow:count': 2, 'v1:shadow:sum': 0.5, 'v1:shadow:sumSq': 0.25 });
    expect(parseStats(Object.fromEntries(Object.entries(sut).map(([field, value]) => [field, String(value)])))).toEqual(arms);
  });
});

describe(chunksByDeployment.name, () => {
  it("keeps each deployment's records in their order, in chunks of at most the size, one deployment per chunk", () => {
    const records = ['a', 'b', 'a', 'a', 'c', 'b', 'a'].map((deployment) => ({ deployment }));
    const sut = chunksByDeployment(records, 2);
    expect([...sut]).toEqual([
      [
        'a',
        [
          [0, 2],
          [3, 6],
        ],
      ],
      ['b', [[1, 5]]],
      ['c', [[4]]],
    ]);
  });
});
