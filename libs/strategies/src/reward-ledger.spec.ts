import { addReward, emptyStats } from './arm-stats';
import { clusteredMeanVariance, mergeUnitSums, type UnitSums } from './cluster';
import {
  ArmSet,
  isRedelivery,
  LedgerReward,
  heldGeneration,
  pairRewards,
  pairsByRequest,
  recountRewards,
  RewardLedger,
  rewardCounts,
  unitStateField,
} from './reward-ledger';
import { seededRng } from './rng';

const reward = (offset: number, variant: string, value: number, fields: Partial<LedgerReward> = {}): LedgerReward => ({
  offset: String(offset),
  variant,
  role: 'served',
  specVersion: 1,
  reward: value,
  ...fields,
});

describe(isRedelivery.name, () => {
  it('is an event at or before the position, compared as numbers', () => {
    expect(isRedelivery(undefined, '0')).toBe(false);
    expect(isRedelivery('9', '9')).toBe(true);
    expect(isRedelivery('10', '9')).toBe(true);
    expect(isRedelivery('9', '10')).toBe(false);
  });
});

describe(rewardCounts.name, () => {
  const arms: ArmSet = { version: 4, incarnation: '0', since: { v1: 1, v2: 3 } };

  it('counts everything for a deployment with no arm set, nothing for a tombstone', () => {
    expect(rewardCounts(undefined, 'v9', 1)).toBe(true);
    expect(rewardCounts({ deleted: true }, 'v1', 9)).toBe(false);
  });

  it("counts a known arm's rewards from the start of its run on", () => {
    expect(rewardCounts(arms, 'v2', 2)).toBe(false);
    expect(rewardCounts(arms, 'v2', 3)).toBe(true);
    expect(rewardCounts(arms, 'v1', 1)).toBe(true);
  });

  it('counts an arm outside the set only under a spec newer than the set', () => {
    expect(rewardCounts(arms, 'v3', 4)).toBe(false);
    expect(rewardCounts(arms, 'v3', 5)).toBe(true);
    expect(rewardCounts(arms, 'constructor', 4)).toBe(false);
  });
});

describe(pairRewards.name, () => {
  it("pairs a shadow with the served reward of its request whichever comes first: d = shadow − served, in the served half's slot", () => {
    const first = pairRewards(undefined, 'v2', 'shadow', 1, '600-1200');
    expect(first.differences).toEqual([]);
    expect(pairRewards(first.held, 'v1', 'served', 0.25, '0-600').differences).toEqual([['v2', 0.75, '0-600']]);
    const served = pairRewards(undefined, 'v1', 'served', 0.25, '0-600');
    expect(served.differences).toEqual([]);
    expect(pairRewards(served.held, 'v2', 'shadow', 1, '600-1200').differences).toEqual([['v2', 0.75, '0-600']]);
  });

  it('keeps the served reward for every shadow of the request, and counts each arm once per request', () => {
    let { held } = pairRewards(undefined, 'v2', 'shadow', 1, '0-600');
    ({ held } = pairRewards(held, 'v2', 'shadow', 0, '0-600'));
    const served = pairRewards(held, 'v1', 'served', 0, '0-600');
    expect(served.differences).toEqual([['v2', 1, '0-600']]);
    expect(pairRewards(served.held, 'v3', 'shadow', 0.5, '0-600').differences).toEqual([['v3', 0.5, '0-600']]);
    expect(pairRewards(served.held, 'v1', 'served', 1, '0-600').differences).toEqual([]);
    expect(served.held).toEqual({ served: { reward: 0, slot: '0-600' }, shadows: {} });
  });
});

describe(pairsByRequest.name, () => {
  const served = (variant: string) => ({ variant, role: 'served' as const });
  const shadow = (variant: string) => ({ variant, role: 'shadow' as const });

  it("holds every reward of a shadow strategy, and of a paired canary the canary's and the shadow ones only", () => {
    expect(pairsByRequest({ type: 'shadow', primary: 'v1', shadows: ['v2'] }, served('v1'))).toBe(true);
    const paired = { type: 'canary' as const, primary: 'v1', canary: 'v2', percent: 10, pairWithPrimary: true };
    expect([served('v2'), shadow('v1'), served('v1')].map((r) => pairsByRequest(paired, r))).toEqual([true, true, false]);
    const { pairWithPrimary: _, ...unpaired } = paired;
    expect([served('v2'), shadow('v1')].map((r) => pairsByRequest(unpaired, r))).toEqual([false, false]);
    expect(pairsByRequest({ type: 'single', variant: 'v1' }, served('v1'))).toBe(false);
  });
});

describe(heldGeneration.name, () => {
  it("keeps this period's generation and the one just before, and empties an older one", () => {
    const held = (epoch: number) => ({ epoch, rewards: new Map([['k', { shadows: {} }]]) });
    const clock = { now: 5500, holdMs: 1000 };
    expect(heldGeneration([held(4), held(5)], clock).map((g) => [g.epoch, g.rewards.size])).toEqual([
      [4, 1],
      [5, 1],
    ]);
    expect(heldGeneration([held(2), held(3)], clock).map((g) => [g.epoch, g.rewards.size])).toEqual([
      [4, 0],
      [5, 0],
    ]);
    expect(heldGeneration([], clock).map((g) => g.epoch)).toEqual([4, 5]);
  });
});

describe(RewardLedger.name, () => {
  let sut: RewardLedger;
  beforeEach(() => (sut = new RewardLedger()));

  describe('apply', () => {
    it('starts a position only when told to, else leaves everything as it is', () => {
      expect(sut.apply(0, [reward(5, 'v1', 1)], false)).toEqual(['unpositioned']);
      expect(sut.positions.size).toBe(0);
      expect(sut.apply(0, [reward(5, 'v1', 1)], true)).toEqual(['applied']);
      expect(sut.positions.get(0)).toBe('5');
      expect(sut.apply(0, [reward(6, 'v1', 1)], false)).toEqual(['applied']);
    });

    it('skips redeliveries per partition, and keeps served and shadow rewards apart', () => {
      sut.apply(0, [reward(1, 'v1', 1), reward(2, 'v1', 0.5, { role: 'shadow' })], true);
      expect(sut.apply(0, [reward(2, 'v1', 9), reward(3, 'v1', 2)], true)).toEqual(['duplicate', 'applied']);
      expect(sut.apply(1, [reward(2, 'v1', 4)], true)).toEqual(['applied']);
      expect(sut.stats).toEqual({ v1: { count: 3, sum: 7, sumSq: 21 }, 'v1:shadow': { count: 1, sum: 0.5, sumSq: 0.25 } });
      expect([...sut.positions]).toEqual([
        [0, '3'],
        [1, '2'],
      ]);
    });

    it('counts a reward also under its cohort, as often as in the totals: once', () => {
      const late = reward(1, 'v1', 0, { specVersion: 2, cohort: 'v1:@2:0-600' });
      sut.apply(0, [late, reward(2, 'v1', 1, { specVersion: 3, cohort: 'v1:@3:600-1200' })], true);
      expect(sut.apply(0, [late, reward(3, 'v1', 0, { specVersion: 3, cohort: 'v1:@2:0-600' })], true)).toEqual(['duplicate', 'applied']);
      expect(sut.cohorts).toEqual({ 'v1:@2:0-600': { count: 2, sum: 0, sumSq: 0 }, 'v1:@3:600-1200': { count: 1, sum: 1, sumSq: 1 } });
      expect(sut.stats).toEqual({ v1: { count: 3, sum: 1, sumSq: 1 } });
    });

    it("keeps each cohort cell's share of its arm's per-unit sums: added over the cells, the sums of the units over the step", () => {
      const random = seededRng(24);
      const rewards: LedgerReward[] = [];
      const units = new Map<string, number[]>();
      for (let i = 0; i < 400; i++) {
        const unit = random() < 0.1 ? undefined : `u${Math.floor(random() * 30)}`;
        const value = Math.round(random() * 4) / 2;
        const slot = Math.floor(random() * 3) * 600;
        rewards.push(reward(i, 'v1', value, { cohort: `v1:@1:${slot}-${slot + 600}`, ...(unit && { unitKey: unit }) }));
        const own = unit ?? `request ${i}`;
        units.set(own, [...(units.get(own) ?? []), value]);
      }
      sut.apply(0, rewards, true);
      // Applied again, nothing changes: the unit state moves only with what is counted.
      sut.apply(0, rewards, true);
      const expected: UnitSums = { units: 0, countSq: 0, sumSq: 0, countSum: 0 };
      for (const values of units.values()) {
        const [n, total] = [values.length, values.reduce((a, b) => a + b, 0)];
        Object.assign(expected, mergeUnitSums(expected, { units: 1, countSq: n * n, sumSq: total * total, countSum: n * total }));
      }
      const summed = Object.values(sut.cohortUnits).reduce(mergeUnitSums);
      expect(summed).toEqual(expected);
      const stats = rewards.map((r) => r.reward).reduce(addReward, emptyStats());
      expect(clusteredMeanVariance(stats, summed)).toBeGreaterThan(0);
      expect(sut.unitState.get(unitStateField('v1:@1:0-600', 'u3'))).toEqual({
        count: units.get('u3')!.length,
        sum: units.get('u3')!.reduce((a, b) => a + b, 0),
      });
    });

    it('forgets the unit states of an arm whose statistics go', () => {
      sut.reconcile(1, 'i', { v1: 1, v2: 1 });
      sut.apply(0, [reward(1, 'v1', 1, { cohort: 'v1:@1:0-600', unitKey: 'u' }), reward(2, 'v2', 1, { cohort: 'v2:@1:0-600', unitKey: 'u' })], true);
      sut.reconcile(2, 'i', { v2: 1 });
      expect([...sut.unitState.keys()]).toEqual([unitStateField('v2:@1:0-600', 'u')]);
      expect(Object.keys(sut.cohortUnits)).toEqual(['v2:@1:0-600']);
    });

    it("adds each request's paired difference once, across batches and partitions, by split key; redeliveries pair nothing", () => {
      const served = (offset: number, id: string, value: number, key = '2') =>
        reward(offset, 'v1', value, { specVersion: Number(key), cohort: `v1:@${key}:0-600`, requestId: id });
      const shadow = (offset: number, id: string, value: number, key = '2') =>
        reward(offset, 'v2', value, { role: 'shadow', specVersion: Number(key), cohort: `v2:shadow:@${key}:0-600`, requestId: id });
      const clock = { now: 10_000, holdMs: 1000 };
      sut.apply(0, [served(1, 'a', 1), shadow(2, 'b', 0)], true, clock);
      expect(sut.paired).toEqual({});
      sut.apply(1, [shadow(1, 'a', 0), served(2, 'b', 1), shadow(3, 'c', 1, '3')], true, clock);
      sut.apply(1, [shadow(1, 'a', 0), served(2, 'b', 1)], true, clock);
      sut.apply(0, [served(3, 'c', 1, '3'), reward(4, 'v1', 0, { requestId: 'c' })], true, { ...clock, now: 11_999 });
      sut.apply(0, [served(5, 'd', 1)], true);
      sut.apply(1, [shadow(4, 'd', 1)], true, clock);
      expect(sut.paired).toEqual({ 'v2:paired:@2:0-600': { count: 2, sum: -2, sumSq: 2 }, 'v2:paired:@3:0-600': { count: 1, sum: 0, sumSq: 0 } });
    });

    it("keeps a pair in its served half's slot of serve time, whichever half came first (a shadow answers later, often in the next slot)", () => {
      const clock = { now: 0, holdMs: 1000 };
      const half = (offset: number, id: string, role: 'served' | 'shadow', slot: number) =>
        reward(offset, role === 'served' ? 'v1' : 'v2', role === 'served' ? 1 : 0, {
          role,
          cohort: `${role === 'served' ? 'v1' : 'v2:shadow'}:@1:${slot * 600}-${slot * 600 + 600}`,
          requestId: id,
        });
      sut.apply(0, [half(1, 'a', 'served', 0), half(2, 'a', 'shadow', 1), half(3, 'b', 'shadow', 2), half(4, 'b', 'served', 1)], true, clock);
      expect(sut.paired).toEqual({ 'v2:paired:@1:0-600': { count: 1, sum: -1, sumSq: 1 }, 'v2:paired:@1:600-1200': { count: 1, sum: -1, sumSq: 1 } });
    });

    it('holds a half for one to two periods of holdMs: one that comes later pairs nothing', () => {
      const half = (offset: number, id: string, role: 'served' | 'shadow') =>
        reward(offset, role === 'served' ? 'v1' : 'v2', 1, { role, cohort: role === 'served' ? 'v1:@1:0-600' : 'v2:shadow:@1:0-600', requestId: id });
      sut.apply(0, [half(1, 'a', 'served'), half(2, 'b', 'served')], true, { now: 1999, holdMs: 1000 });
      sut.apply(0, [half(3, 'a', 'shadow')], true, { now: 2999, holdMs: 1000 });
      sut.apply(0, [half(4, 'b', 'shadow')], true, { now: 3000, holdMs: 1000 });
      expect(sut.paired).toEqual({ 'v2:paired:@1:0-600': { count: 1, sum: 0, sumSq: 0 } });
      expect(sut.held.map((g) => [g?.epoch, [...(g?.rewards.keys() ?? [])]])).toEqual([
        [2, []],
        [3, ['1\nb']],
      ]);
    });

    it('drops the paired cells of an arm gone from the spec', () => {
      sut.reconcile(1, 'x', { v1: 1, v2: 1 });
      sut.apply(
        0,
        [reward(1, 'v1', 1, { cohort: 'v1:@1:0-600', requestId: 'a' }), reward(2, 'v2', 0, { role: 'shadow', cohort: 'v2:shadow:@1:0-600', requestId: 'a' })],
        true,
        { now: 0, holdMs: 1000 },
      );
      expect(Object.keys(sut.paired)).toEqual(['v2:paired:@1:0-600']);
      sut.reconcile(2, 'x', { v1: 1 });
      expect(sut.paired).toEqual({});
    });

    it('moves the position past a stale reward without counting it', () => {
      sut.reconcile(2, 'i', { v1: 2 });
      expect(sut.apply(0, [reward(7, 'v1', 1, { specVersion: 1, cohort: 'v1:@1:0-600' })], true)).toEqual(['stale']);
      expect(sut.positions.get(0)).toBe('7');
      expect(sut.stats).toEqual({});
      expect(sut.cohorts).toEqual({});
    });
  });

  describe('reconcile', () => {
    beforeEach(() => {
      sut.apply(
        0,
        [reward(1, 'v1', 1, { cohort: 'v1:@1:0-60' }), reward(2, 'v2', 2), reward(3, 'v2', 3, { role: 'shadow', cohort: 'v2:shadow:@1:0-60' })],
        true,
      );
      expect(sut.reconcile(1, 'i', { v1: 1, v2: 1 })).toBe(0);
    });

    it('drops the statistics, served and shadow, totals and cohorts, of an arm gone from the spec', () => {
      expect(sut.reconcile(2, 'i', { v1: 1 })).toBe(1);
      expect(sut.stats).toEqual({ v1: { count: 1, sum: 1, sumSq: 1 } });
      expect(sut.cohorts).toEqual({ 'v1:@1:0-60': { count: 1, sum: 1, sumSq: 1 } });
      expect(sut.arms).toEqual({ version: 2, incarnation: 'i', since: { v1: 1 } });
    });

    it('changes nothing for a view older than the one recorded', () => {
      sut.reconcile(3, 'i', { v1: 1, v2: 1 });
      expect(sut.reconcile(2, 'i', { v1: 1 })).toBe(-1);
      expect(Object.keys(sut.stats).sort()).toEqual(['v1', 'v2', 'v2:shadow']);
      expect(sut.arms).toEqual({ version: 3, incarnation: 'i', since: { v1: 1, v2: 1 } });
    });

    it('starts an arm afresh whose run restarted unseen (a later since)', () => {
      expect(sut.reconcile(5, 'i', { v1: 1, v2: 4 })).toBe(0);
      expect(Object.keys(sut.stats)).toEqual(['v1']);
      expect(sut.arms).toEqual({ version: 5, incarnation: 'i', since: { v1: 1, v2: 4 } });
    });

    it('starts a new incarnation of the deployment empty, positions kept', () => {
      sut.reconcile(1, 'j', { v1: 1 });
      expect(sut.stats).toEqual({});
      expect(sut.positions.get(0)).toBe('3');
    });

    it('drops leftovers of variants outside the spec when no set was recorded yet', () => {
      const fresh = new RewardLedger();
      fresh.apply(0, [reward(1, 'v1', 1), reward(2, 'old', 1)], true);
      fresh.reconcile(3, 'i', { v1: 1 });
      expect(Object.keys(fresh.stats)).toEqual(['v1']);
    });
  });

  it('forgets a deleted deployment: a tombstone counts nothing; the next life starts empty', () => {
    sut.apply(0, [reward(1, 'v1', 1)], true);
    sut.forget();
    expect(sut.stats).toEqual({});
    expect(sut.apply(0, [reward(2, 'v1', 1)], true)).toEqual(['stale']);
    sut.reconcile(1, 'j', { v1: 1 });
    expect(sut.arms).toEqual({ version: 1, incarnation: 'j', since: { v1: 1 } });
    expect(sut.apply(0, [reward(3, 'v1', 2)], true)).toEqual(['applied']);
    expect(sut.stats).toEqual({ v1: { count: 1, sum: 2, sumSq: 4 } });
  });
});

describe(recountRewards.name, () => {
  it('counts each message of a topic once, per deployment, in whatever order it is given', () => {
    const sut = recountRewards([
      { ...reward(1, 'v1', 1), deployment: 'd', partition: 0 },
      { ...reward(0, 'v1', 2), deployment: 'd', partition: 0 },
      { ...reward(0, 'v2', 3), deployment: 'd', partition: 1 },
      { ...reward(0, 'v2', 3), deployment: 'd', partition: 1 },
      { ...reward(2, 'v1', -1, { role: 'shadow' }), deployment: 'e', partition: 0 },
    ]);
    expect(sut.get('d')).toEqual({ v1: { count: 2, sum: 3, sumSq: 5 }, v2: { count: 1, sum: 3, sumSq: 9 } });
    expect(sut.get('e')).toEqual({ 'v1:shadow': { count: 1, sum: -1, sumSq: 1 } });
  });
});
