import { seededRng } from '@switchyard/strategies';
import { cumulativeRegret, simulateInstantBandit } from './regret-oracle';

const ARMS = ['a', 'b', 'c'];
const RATES: Record<string, number> = { a: 0.7, b: 0.8, c: 0.9 };

/** Bernoulli rewards fixed per (request, arm) by a seed, like a model that is right or wrong on each input. */
function rewards(seed: number, requests: number): (t: number, arm: string) => number {
  const rng = seededRng(seed);
  const table = Array.from({ length: requests }, () => Object.fromEntries(ARMS.map((arm) => [arm, rng() < RATES[arm] ? 1 : 0])));
  return (t, arm) => table[t][arm];
}

describe(cumulativeRegret.name, () => {
  it('adds the gap to the best arm after every request', () => {
    expect(cumulativeRegret(['c', 'a', 'b', 'c'], RATES).map((r) => Math.round(r * 100) / 100)).toEqual([0, 0.2, 0.3, 0.3]);
  });

  it('refuses an arm it has no expected reward for', () => {
    expect(() => cumulativeRegret(['d'], RATES)).toThrow(/"d"/);
  });
});

describe(simulateInstantBandit.name, () => {
  const run = (seed: number, minShare = 0.01) =>
    simulateInstantBandit({
      algorithm: 'thompson',
      arms: ARMS,
      requests: 600,
      reward: rewards(seed, 600),
      rng: seededRng(seed + 1),
      rewardKind: 'binary',
      minShare,
      samples: 200,
    });

  it('is reproducible from its seeds', () => {
    expect(run(3)).toEqual(run(3));
  });

  it('learns the best arm: most of the last requests go to it, and regret grows ever slower', () => {
    const chosen = run(5);
    const last = chosen.slice(-200);
    expect(last.filter((arm) => arm === 'c').length / last.length).toBeGreaterThan(0.8);
    const regret = cumulativeRegret(chosen, RATES);
    expect(regret[599] - regret[399]).toBeLessThan(regret[199]);
  });

  it('keeps the floor: a 30% minShare leaves the worst arm about 30% of the traffic', () => {
    const chosen = run(7, 0.3);
    const share = chosen.filter((arm) => arm === 'a').length / chosen.length;
    expect(share).toBeGreaterThan(0.25);
  });
});
