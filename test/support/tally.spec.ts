import { tallyRewards } from './tally';

describe(tallyRewards.name, () => {
  it('counts each eventId once, per deployment and arm', () => {
    const sut = tallyRewards([
      { eventId: 'a', deployment: 'd', variant: 'v1', role: 'served', reward: 1 },
      { eventId: 'a', deployment: 'd', variant: 'v1', role: 'served', reward: 1 },
      { eventId: 'b', deployment: 'd', variant: 'v1', role: 'served', reward: 0.5 },
      { eventId: 'c', deployment: 'd', variant: 'v1', role: 'shadow', reward: 2 },
      { eventId: 'd', deployment: 'e', variant: 'v2', role: 'served', reward: -1 },
    ]);
    expect(sut.get('d')).toEqual({ v1: { count: 2, sum: 1.5, sumSq: 1.25 }, 'v1:shadow': { count: 1, sum: 2, sumSq: 4 } });
    expect(sut.get('e')).toEqual({ v2: { count: 1, sum: -1, sumSq: 1 } });
  });
});
