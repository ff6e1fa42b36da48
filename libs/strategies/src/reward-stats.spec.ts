import { cohortArm, cohortRewards, parseCohortArm, staleCohortCells, statsArm } from './reward-stats';

describe(statsArm.name, () => {
  it('counts served rewards under the variant and shadow rewards apart', () => {
    expect(statsArm('v1', 'served')).toBe('v1');
    expect(statsArm('v1', 'shadow')).toBe('v1:shadow');
  });
});

describe(cohortArm.name, () => {
  const served = { variant: 'v2', role: 'served' as const, specVersion: 4, predictedAt: '2026-01-01T00:10:59.999Z' };

  it('names the arm, the split key the prediction was served under and its slot of serve time, which parseCohortArm reads back', () => {
    const at = Date.parse('2026-01-01T00:10:00Z') / 1000;
    expect(cohortArm(served, 60)).toBe(`v2:@4:${at}-${at + 60}`);
    expect(cohortArm({ ...served, role: 'shadow', step: 2 }, 600)).toBe(`v2:shadow:@4.2:${at}-${at + 600}`);
    const stats = { count: 3, sum: 2, sumSq: 2 };
    expect(parseCohortArm(cohortArm({ ...served, role: 'shadow', step: 2 }, 600), stats)).toEqual({
      arm: 'v2:shadow',
      key: '4.2',
      servedFrom: at,
      servedBefore: at + 600,
      stats,
    });
    expect(parseCohortArm('v2:shadow', stats)).toBeUndefined();
  });

  it('refuses a serve time that is not one', () => {
    expect(() => cohortArm({ ...served, predictedAt: 'yesterday' }, 60)).toThrow(/predictedAt/);
  });
});

describe(cohortRewards.name, () => {
  const stats = (count: number) => ({ count, sum: count, sumSq: count });
  const cells = [
    { arm: 'v1', key: '3', servedFrom: 0, servedBefore: 100, stats: stats(1) },
    { arm: 'v1', key: '3', servedFrom: 100, servedBefore: 200, stats: stats(2) },
    { arm: 'v1', key: '3', servedFrom: 200, servedBefore: 300, stats: stats(4) },
    { arm: 'v1', key: '2', servedFrom: 0, servedBefore: 100, stats: stats(8) },
    { arm: 'v2:shadow', key: '3', servedFrom: 200, servedBefore: 300, stats: stats(16) },
  ];

  it('judges the slots of the keys named wholly served before the cut, the younger ones waiting', () => {
    expect(cohortRewards(cells, { keys: ['3'] }, 200)).toEqual({
      v1: { judged: stats(3), waiting: stats(4) },
      'v2:shadow': { judged: stats(0), waiting: stats(16) },
    });
    expect(cohortRewards(cells, { keys: ['2', '3'] }, 300).v1.judged).toEqual(stats(15));
  });

  it('with servedFrom, leaves out every slot that began before it', () => {
    expect(cohortRewards(cells, { keys: ['3'], servedFrom: 150 }, 300).v1).toEqual({ judged: stats(4), waiting: stats(0) });
  });
});

describe('cohort unit sums', () => {
  const stats = (count: number) => ({ count, sum: count, sumSq: count });
  const units = (k: number) => ({ units: k, countSq: 2 * k, sumSq: 3 * k, countSum: 4 * k });

  it('adds up the unit sums of the judged cells, and only of them', () => {
    const cells = [
      { arm: 'v1', key: '3', servedFrom: 0, servedBefore: 100, stats: stats(1), units: units(1) },
      { arm: 'v1', key: '3', servedFrom: 100, servedBefore: 200, stats: stats(2), units: units(2) },
      { arm: 'v1', key: '3', servedFrom: 200, servedBefore: 300, stats: stats(4), units: units(4) },
    ];
    expect(cohortRewards(cells, { keys: ['3'] }, 200).v1).toEqual({ judged: stats(3), judgedUnits: units(3), waiting: stats(4) });
  });

  it('clusters nothing when a judged cell has no unit sums (counted before the updater kept them)', () => {
    const cells = [
      { arm: 'v1', key: '3', servedFrom: 0, servedBefore: 100, stats: stats(1) },
      { arm: 'v1', key: '3', servedFrom: 100, servedBefore: 200, stats: stats(2), units: units(2) },
    ];
    expect(cohortRewards(cells, { keys: ['3'] }, 200).v1).toEqual({ judged: stats(3), waiting: stats(0) });
  });
});

describe(staleCohortCells.name, () => {
  const cell = (key: string, servedFrom: number) => ({ arm: 'v1', key, servedFrom, servedBefore: servedFrom + 100, stats: { count: 1, sum: 1, sumSq: 1 } });

  it('is every cell of a key not judged, and the keys no cell of which is', () => {
    const cells = [cell('1', 0), cell('2', 0), cell('2', 100), cell('3', 100)];
    expect(staleCohortCells(cells, { keys: ['2', '3'] })).toEqual({ cells: [cell('1', 0)], keys: ['1'] });
    expect(staleCohortCells(cells, { keys: ['3'] })).toEqual({ cells: [cell('1', 0), cell('2', 0), cell('2', 100)], keys: ['1', '2'] });
  });

  it('with servedFrom, also the slots of a judged key served before it, keeping the key', () => {
    const cells = [cell('2', 0), cell('2', 100), cell('2', 200)];
    expect(staleCohortCells(cells, { keys: ['2'], servedFrom: 100 })).toEqual({ cells: [cell('2', 0)], keys: [] });
  });

  it('is nothing for a judged cohort: what cohortRewards reads is never stale', () => {
    const cells = [cell('2', 0), cell('3', 100)];
    expect(staleCohortCells(cells, { keys: ['2', '3'] })).toEqual({ cells: [], keys: [] });
  });
});
