import { sampleBeta, sampleGamma, sampleNormal, seededRng } from './rng';

function moments(draw: () => number, n: number): { mean: number; variance: number } {
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const x = draw();
    sum += x;
    sumSq += x * x;
  }
  const mean = sum / n;
  return { mean, variance: (sumSq - n * mean * mean) / (n - 1) };
}

describe(seededRng.name, () => {
  it('repeats its sequence for the same seed and differs for another', () => {
    const a = seededRng(42);
    const b = seededRng(42);
    const c = seededRng(43);
    const first = Array.from({ length: 5 }, a);
    expect(Array.from({ length: 5 }, b)).toEqual(first);
    expect(Array.from({ length: 5 }, c)).not.toEqual(first);
  });

  it('stays in [0, 1) with the moments of a uniform', () => {
    const rng = seededRng(1);
    const draws = Array.from({ length: 50_000 }, rng);
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(1);
    const { mean, variance } = moments(() => draws.pop()!, 50_000);
    expect(mean).toBeCloseTo(0.5, 2);
    expect(variance).toBeCloseTo(1 / 12, 2);
  });
});

describe(sampleNormal.name, () => {
  it('has mean 0 and variance 1 by default', () => {
    const rng = seededRng(2);
    const { mean, variance } = moments(() => sampleNormal(rng), 50_000);
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(variance - 1)).toBeLessThan(0.03);
  });

  it('shifts and scales', () => {
    const rng = seededRng(3);
    const { mean, variance } = moments(() => sampleNormal(rng, 10, 2), 50_000);
    expect(Math.abs(mean - 10)).toBeLessThan(0.04);
    expect(Math.abs(variance - 4)).toBeLessThan(0.12);
  });
});

describe(sampleGamma.name, () => {
  // Mean shape·scale, variance shape·scale²; 40k draws put the mean within ~4 standard errors.
  it.each([
    [0.3, 1],
    [0.5, 2],
    [1, 1],
    [2.5, 1],
    [9, 0.5],
  ])('Gamma(%p, %p) has the right mean and variance', (shape, scale) => {
    const rng = seededRng(4);
    const n = 40_000;
    const { mean, variance } = moments(() => sampleGamma(rng, shape, scale), n);
    const expectedVariance = shape * scale * scale;
    expect(Math.abs(mean - shape * scale)).toBeLessThan(4 * Math.sqrt(expectedVariance / n));
    expect(Math.abs(variance / expectedVariance - 1)).toBeLessThan(0.08);
  });

  it('never returns a negative number', () => {
    const rng = seededRng(5);
    const draws = Array.from({ length: 10_000 }, () => sampleGamma(rng, 0.1));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
  });

  it('rejects a shape that is not positive', () => {
    expect(() => sampleGamma(seededRng(6), 0)).toThrow(RangeError);
    expect(() => sampleGamma(seededRng(6), -1)).toThrow(RangeError);
  });
});

describe(sampleBeta.name, () => {
  it.each([
    [1, 1],
    [2, 5],
    [0.5, 0.5],
    [30, 10],
    [901, 101],
  ])('Beta(%p, %p) has mean a / (a + b) and stays in [0, 1]', (a, b) => {
    const rng = seededRng(7);
    const n = 20_000;
    let outside = 0;
    const { mean, variance } = moments(() => {
      const x = sampleBeta(rng, a, b);
      if (x < 0 || x > 1) outside++;
      return x;
    }, n);
    const expectedMean = a / (a + b);
    const expectedVariance = (a * b) / ((a + b) ** 2 * (a + b + 1));
    expect(outside).toBe(0);
    expect(Math.abs(mean - expectedMean)).toBeLessThan(4 * Math.sqrt(expectedVariance / n));
    expect(Math.abs(variance / expectedVariance - 1)).toBeLessThan(0.08);
  });
});
