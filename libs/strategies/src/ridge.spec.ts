import { cholesky, choleskySolve, inverseQuadraticForm, packedIndex } from './linalg';
import { accumulateObservation, addRidge, emptyRidgeStats, fitRidge, predictRidge, rebaseRidge, ridgeLeverage, ridgeObservation, subtractRidge } from './ridge';

const close = (actual: ArrayLike<number>, expected: ArrayLike<number>) => Array.from(expected).forEach((v, i) => expect(actual[i]).toBeCloseTo(v, 12));

describe('linear algebra', () => {
  // A = [[4, 2], [2, 3]]: L = [[2, 0], [1, √2]] since 2·2 = 4, 1·2 = 2, 1 + 2 = 3.
  const A = [4, 2, 3];

  it('packs the upper triangle row by row, symmetric in its indices', () => {
    expect([packedIndex(3, 0, 0), packedIndex(3, 0, 2), packedIndex(3, 1, 1), packedIndex(3, 2, 1), packedIndex(3, 2, 2)]).toEqual([0, 2, 3, 4, 5]);
  });

  it('factorises and solves a 2 × 2 system by hand', () => {
    const L = cholesky(A, 2)!;
    close(L, [2, 0, 1, Math.SQRT2]);
    // A⁻¹ = (1/8)[[3, −2], [−2, 4]]; A⁻¹[1, 1] = (1/8)[1, 2]; [1, 1]ᵀA⁻¹[1, 1] = 3/8.
    close(choleskySolve(L, 2, [1, 1]), [1 / 8, 2 / 8]);
    expect(inverseQuadraticForm(L, 2, [1, 1])).toBeCloseTo(3 / 8, 12);
  });

  it('says so when a matrix is not positive definite', () => {
    expect(cholesky([1, 2, 1], 2)).toBeUndefined(); // eigenvalues 3 and −1
  });
});

describe('ridge statistics', () => {
  // x₁ = [1, 0] rewarded 1, x₂ = [1, 1] rewarded 0, λ = 1:
  // S = [[1,0],[0,0]] + [[1,1],[1,1]] = [[2,1],[1,1]], b = [1, 0], Σr² = 1.
  // A = [[3,1],[1,2]], det 5, A⁻¹ = (1/5)[[2,−1],[−1,3]], θ̂ = A⁻¹b = [0.4, −0.2].
  // Residuals 1 − 0.4 = 0.6 and 0 − 0.2 = −0.2: RSS = 0.36 + 0.04 = 0.4
  // (= Σr² − θ̂ᵀb − λ‖θ̂‖² = 1 − 0.4 − 0.2). x₂ᵀA⁻¹x₂ = (2 − 1 − 1 + 3)/5 = 0.6.
  const stats = addRidge(ridgeObservation([1, 0], 1), ridgeObservation([1, 1], 0));

  it('adds observations into plain sums', () => {
    expect(stats).toEqual({ dimension: 2, xx: [2, 1, 1], xr: [1, 0], rr: 1, weight: 2, count: 2, epoch: 0 });
  });

  it('fits θ̂, the residual sum of squares and the leverage by hand', () => {
    const model = fitRidge(stats, { ridge: 1 });
    close(model.theta, [0.4, -0.2]);
    expect(model.rss).toBeCloseTo(0.4, 12);
    expect(predictRidge(model, [1, 1])).toBeCloseTo(0.2, 12);
    expect(ridgeLeverage(model, [1, 1])).toBeCloseTo(0.6, 12);
    // λ = 2: A = [[4,1],[1,3]], det 11, θ̂ = (1/11)[3, −1].
    close(fitRidge(stats, { ridge: 2 }).theta, [3 / 11, -1 / 11]);
  });

  it('is the prior alone with no data: θ̂ = 0 and leverage ‖x‖²/λ', () => {
    const model = fitRidge(emptyRidgeStats(2), { ridge: 2 });
    close(model.theta, [0, 0]);
    expect(ridgeLeverage(model, [1, 1])).toBeCloseTo(1, 12);
  });

  it('accumulates in place to the same sums', () => {
    const inPlace = emptyRidgeStats(2);
    accumulateObservation(inPlace, [1, 0], 1);
    accumulateObservation(inPlace, [1, 1], 0);
    expect(inPlace).toEqual(stats);
  });

  it('takes a fold back out exactly (cross-fitting)', () => {
    const third = ridgeObservation([1, 0.5], 0.25);
    expect(subtractRidge(addRidge(stats, third), third)).toEqual(stats);
  });

  describe('forgetting', () => {
    // Half-life 10 s: x₁ at t = 0, x₂ at t = 10, read at T = 10 weigh 0.5 and 1.
    // S = [[1.5,1],[1,1]], b = [0.5, 0]; A = [[2.5,1],[1,2]], det 4,
    // A⁻¹ = (1/4)[[2,−1],[−1,2.5]], θ̂ = (1/4)[1, −0.5] = [0.25, −0.125].
    const forgetting = { halfLifeSeconds: 10 };
    const first = ridgeObservation([1, 0], 1, { ...forgetting, atSeconds: 0 });
    const second = ridgeObservation([1, 1], 0, { ...forgetting, atSeconds: 10 });

    it('weighs an observation by 2^(−age/half-life), whatever order they came in', () => {
      const sum = addRidge(second, first);
      expect(sum).toEqual(addRidge(first, second));
      const model = fitRidge(sum, { ...forgetting, atSeconds: 10 });
      close(model.theta, [0.25, -0.125]);
      expect(model.weight).toBeCloseTo(1.5, 12);
    });

    it('reads the same after the epoch moves forward', () => {
      const sum = addRidge(first, second);
      const rebased = rebaseRidge(sum, 10, forgetting);
      expect(rebased.epoch).toBe(10);
      expect(rebased.weight).toBeCloseTo(1.5, 12);
      close(fitRidge(rebased, { ...forgetting, atSeconds: 30 }).theta, fitRidge(sum, { ...forgetting, atSeconds: 30 }).theta);
      // An observation added after the rebase is stored relative to the new epoch.
      const later = ridgeObservation([1, 0], 1, { ...forgetting, atSeconds: 20, epoch: 10 });
      expect(later.weight).toBeCloseTo(2, 12);
      expect(() => addRidge(sum, later)).toThrow(/epoch/);
    });
  });
});
