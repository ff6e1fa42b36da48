import { seededRng } from '@switchyard/strategies';
import { BanditSimulationOptions, cumulativeRegret, simulateBandit } from './regret-oracle';

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

describe(simulateBandit.name, () => {
  const run = (seed: number, minShare = 0.01, known?: BanditSimulationOptions['known']) =>
    simulateBandit({
      algorithm: 'thompson',
      arms: ARMS,
      requests: 600,
      reward: rewards(seed, 600),
      rng: seededRng(seed + 1),
      rewardKind: 'binary',
      minShare,
      samples: 200,
      known,
    });
  const share = (chosen: string[], arm: string) => chosen.filter((c) => c === arm).length / chosen.length;

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
    expect(share(run(7, 0.3), 'a')).toBeGreaterThan(0.25);
  });

  it('serves the same weights until more rewards are known: uniform ones while none is', () => {
    const chosen = run(9, 0.01, (t) => (t < 300 ? 0 : 300));
    // 300 requests on the empty statistics' weights: each arm about a third of them.
    for (const arm of ARMS) expect(share(chosen.slice(0, 300), arm)).toBeGreaterThan(0.25);
    expect(share(chosen.slice(300), 'c')).toBeGreaterThan(0.6);
  });

  it('never learns when no reward is ever known', () => {
    const chosen = run(11, 0.01, () => 0);
    for (const arm of ARMS) expect(share(chosen.slice(-200), arm)).toBeGreaterThan(0.25);
  });

  it('loses more with the delays of a real loop, over the same seeds', () => {
    const regret = (known?: BanditSimulationOptions['known']) =>
      [1, 2, 3, 4, 5, 6].reduce((total, seed) => total + cumulativeRegret(run(seed, 0.01, known), RATES)[599], 0);
    // Weights every 100 requests from rewards 20 requests old.
    expect(regret((t) => Math.floor(t / 100) * 100 - 20)).toBeGreaterThan(regret());
  });

  it('cannot know rewards of requests not served yet', () => {
    expect(run(13, 0.01, (t) => t + 50)).toEqual(run(13));
  });
});
