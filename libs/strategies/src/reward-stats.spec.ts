import { armSince, statsArm } from './reward-stats';

describe(statsArm.name, () => {
  it('counts served rewards under the variant and shadow rewards apart', () => {
    expect(statsArm('v1', 'served')).toBe('v1');
    expect(statsArm('v1', 'shadow')).toBe('v1:shadow');
  });
});

describe(armSince.name, () => {
  const history: Record<number, string[]> = { 1: ['a', 'b'], 2: ['a'], 3: ['a', 'b'], 4: ['a', 'b', 'c'] };
  const variantsAt = async (version: number) => history[version] ?? null;

  it('is the first version of the unbroken run that lists the arm', async () => {
    expect(await armSince('a', 4, variantsAt)).toBe(1);
    expect(await armSince('b', 4, variantsAt)).toBe(3);
    expect(await armSince('c', 4, variantsAt)).toBe(4);
  });

  it('stops at a missing version and at the lookback limit', async () => {
    expect(await armSince('a', 4, async (v) => (v === 2 ? null : history[v]))).toBe(3);
    expect(await armSince('a', 4, variantsAt, undefined, 1)).toBe(3);
  });

  it('keeps the recorded since of an arm listed in every newer version', async () => {
    expect(await armSince('a', 4, variantsAt, { version: 3, since: { a: 1, b: 3 } })).toBe(1);
    expect(await armSince('a', 3, variantsAt, { version: 3, since: { a: 1, b: 3 } })).toBe(1);
    expect(await armSince('c', 4, variantsAt, { version: 3, since: { a: 1, b: 3 } })).toBe(4);
  });

  it('starts a new run for an arm removed and added back since the record', async () => {
    expect(await armSince('b', 4, variantsAt, { version: 1, since: { a: 1, b: 1 } })).toBe(3);
  });
});
