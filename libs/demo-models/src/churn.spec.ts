import { assertFeatures, churnScore, groundTruth } from './churn';
import { randomFeatures, seededRng } from './random';

describe(groundTruth.name, () => {
  const sut = groundTruth;

  it('labels 1 exactly when 0.6*x0 + 0.4*x1 - 0.5*x2 + 0.2*x3 > 0.35', () => {
    expect(sut([1, 0, 0, 0])).toBe(1); // 0.6
    expect(sut([0, 1, 0, 0])).toBe(1); // 0.4
    expect(sut([0, 0, 1, 0])).toBe(0); // -0.5
    expect(sut([0, 0, 0, 1])).toBe(0); // 0.2
    expect(sut([0.5, 0.5, 0, 0])).toBe(1); // 0.5
    expect(sut([0.5, 0.5, 1, 1])).toBe(0); // 0.2
    expect(churnScore([0.2, 0.3, 0.4, 0.5])).toBeCloseTo(0.12 + 0.12 - 0.2 + 0.1, 12);
  });

  it('splits random inputs roughly evenly between the labels', () => {
    const rng = seededRng(7);
    let ones = 0;
    for (let i = 0; i < 20_000; i++) ones += sut(randomFeatures(rng));
    expect(ones / 20_000).toBeGreaterThan(0.45);
    expect(ones / 20_000).toBeLessThan(0.55);
  });

  it.each([
    [[1, 2, 3], 'features must be 4 numbers; got 3'],
    [[1, 2, 3, 4, 5], 'features must be 4 numbers; got 5'],
    [[1, 2, '3', 4], 'features[2] must be a finite number; got "3"'],
    [[1, NaN, 3, 4], 'features[1] must be a finite number; got null'],
    [[1, 2, 3, Infinity], 'features[3] must be a finite number; got null'],
  ])('rejects %j', (features, message) => {
    expect(() => sut(features as number[])).toThrow(message);
    expect(() => assertFeatures(features)).toThrow(message);
  });
});
