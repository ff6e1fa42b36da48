import { seededRng } from './rng';
import { alignWeights, applyMinShare, chooseArm, fallbackArm, normalizeWeights, uniformWeights } from './weights';

const sum = (weights: Record<string, number>) => Object.values(weights).reduce((a, b) => a + b, 0);

describe(normalizeWeights.name, () => {
  it('scales to 1 and zeroes unusable weights', () => {
    expect(normalizeWeights({ a: 2, b: 6, c: -1, d: NaN })).toEqual({ a: 0.25, b: 0.75, c: 0, d: 0 });
  });

  it('is uniform when no weight is usable', () => {
    expect(normalizeWeights({ a: 0, b: 0 })).toEqual({ a: 0.5, b: 0.5 });
  });
});

describe(applyMinShare.name, () => {
  it('raises starved arms to the floor and shrinks the others in proportion', () => {
    const sut = applyMinShare({ a: 0.6, b: 0.395, c: 0.005 }, 0.01);
    expect(sut.c).toBeCloseTo(0.01, 12);
    expect(sut.a / sut.b).toBeCloseTo(0.6 / 0.395, 12);
    expect(sum(sut)).toBeCloseTo(1, 12);
  });

  it('floors arms that shrinking pushes under the floor too', () => {
    const sut = applyMinShare({ a: 0.79, b: 0.2, c: 0.01, d: 0 }, 0.2);
    for (const weight of Object.values(sut)) expect(weight).toBeGreaterThanOrEqual(0.2 - 1e-12);
    expect(sut.a).toBeCloseTo(0.4, 12);
    expect(sum(sut)).toBeCloseTo(1, 12);
  });

  it('leaves weights above the floor alone and uses 0.01 by default', () => {
    expect(applyMinShare({ a: 0.5, b: 0.5 })).toEqual({ a: 0.5, b: 0.5 });
    expect(applyMinShare({ a: 1, b: 0 })).toEqual({ a: 0.99, b: 0.01 });
  });

  it('is uniform when the floor covers everything', () => {
    expect(applyMinShare({ a: 1, b: 0 }, 0.5)).toEqual({ a: 0.5, b: 0.5 });
  });
});

describe(alignWeights.name, () => {
  it('is uniform without weights or when they name other arms', () => {
    expect(alignWeights(undefined, ['a', 'b'])).toEqual({ a: 0.5, b: 0.5 });
    expect(alignWeights({ x: 0.9, y: 0.1 }, ['a', 'b'])).toEqual({ a: 0.5, b: 0.5 });
  });

  it('drops arms that left the spec and gives new arms a uniform share', () => {
    const sut = alignWeights({ a: 0.9, b: 0.1, gone: 0.5 }, ['a', 'b', 'c']);
    expect(sut.gone).toBeUndefined();
    expect(sut.a / sut.b).toBeCloseTo(9, 12);
    expect(sut.c).toBeCloseTo(1 / 3 / (1 + 1 / 3), 12);
    expect(sum(sut)).toBeCloseTo(1, 12);
  });

  it('treats a variant named like an Object property as any other', () => {
    expect(alignWeights({ a: 1 }, ['a', 'constructor'])).toEqual({ a: 2 / 3, constructor: 1 / 3 });
  });
});

describe(chooseArm.name, () => {
  it('chooses each arm as often as its weight, within 1 point over 100k draws', () => {
    const weights = { a: 0.6, b: 0.25, c: 0.1, d: 0.05 };
    const rng = seededRng(11);
    const counts: Record<string, number> = { a: 0, b: 0, c: 0, d: 0 };
    let wrongProbabilities = 0;
    for (let i = 0; i < 100_000; i++) {
      const choice = chooseArm(weights, rng);
      if (Math.abs(choice.probability - weights[choice.variant as keyof typeof weights]) > 1e-12) wrongProbabilities++;
      counts[choice.variant]++;
    }
    expect(wrongProbabilities).toBe(0);
    for (const [name, weight] of Object.entries(weights)) expect(Math.abs(counts[name] / 1000 - weight * 100)).toBeLessThan(1);
  });

  it('never chooses an arm with zero weight, even at the ends of the rng range', () => {
    const weights = { a: 0, b: 1, c: 0 };
    expect(chooseArm(weights, () => 0).variant).toBe('b');
    expect(chooseArm(weights, () => 0.9999999999999999).variant).toBe('b');
  });

  it('maps the rng to arms by half-open intervals: [0, 0.5) is a, [0.5, 1) is b', () => {
    expect(chooseArm({ a: 0.5, b: 0.5 }, () => 0.4999).variant).toBe('a');
    expect(chooseArm({ a: 0.5, b: 0.5 }, () => 0.5).variant).toBe('b');
  });

  it('throws when there is nothing to choose', () => {
    expect(() => chooseArm({}, Math.random)).toThrow(/no arm/);
  });
});

describe(fallbackArm.name, () => {
  it('is the best-weighted other arm', () => {
    expect(fallbackArm({ a: 0.7, b: 0.2, c: 0.1 }, 'a')).toBe('b');
    expect(fallbackArm({ a: 0.7, b: 0.2, c: 0.1 }, 'c')).toBe('a');
  });

  it('is undefined with a single arm', () => {
    expect(fallbackArm({ a: 1 }, 'a')).toBeUndefined();
  });
});

describe(uniformWeights.name, () => {
  it('gives every arm 1/n', () => {
    expect(uniformWeights(['a', 'b', 'c', 'd'])).toEqual({ a: 0.25, b: 0.25, c: 0.25, d: 0.25 });
  });
});
