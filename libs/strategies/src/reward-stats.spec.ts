import { cohortArm, cohortRewards, parseCohortArm, statsArm } from './reward-stats';

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
