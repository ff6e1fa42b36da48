import { cholesky, choleskySolve, dot, inverseQuadraticForm, packedIndex, packedLength } from './linalg';

/**
 * Sufficient statistics of a ridge regression of the reward on the context, for one arm:
 * S = Σ wᵢ xᵢxᵢᵀ, b = Σ wᵢ rᵢ xᵢ, Σ wᵢ rᵢ² and Σ wᵢ. The penalty λI is added when the
 * model is fitted, never stored, so every field is a plain sum: an observation is an
 * increment (`ridgeObservation`) that commutes with every other, which is what lets a
 * store apply it exactly once by the same ledger as today's reward sums, and rebuild the
 * whole from the joined topic in any order.
 *
 * Forgetting (drifting rewards): with a half-life h, an observation of age τ seconds
 * weighs γ^τ, γ = 2^(−1/h). Ages change as time passes, which would make every stored sum
 * stale; instead each observation at time t is stored with the weight 2^((t − epoch)/h),
 * relative to a fixed `epoch`, and the whole is scaled by 2^(−(T − epoch)/h) when read at
 * T. The product is γ^(T − t) for every observation, whatever order they arrived in. The
 * stored weights grow by 2 per half-life past the epoch: `rebaseRidge` moves the epoch
 * forward (a multiplication of every field) long before a double could overflow.
 */
export interface RidgeStats {
  /** Length of every context vector, the intercept included. */
  dimension: number;
  /** Σ wᵢ xᵢxᵢᵀ, the upper triangle packed row by row (`packedIndex`). */
  xx: number[];
  /** Σ wᵢ rᵢ xᵢ. */
  xr: number[];
  /** Σ wᵢ rᵢ². */
  rr: number;
  /** Σ wᵢ: the effective number of observations. */
  weight: number;
  /** Observations added, unweighted. */
  count: number;
  /** Seconds (Unix time) at which an observation weighs 1; 0 without forgetting. */
  epoch: number;
}

export interface Forgetting {
  /** Seconds after which an observation counts half. Absent: nothing is forgotten. */
  halfLifeSeconds?: number;
}

/** Half-lives past the epoch after which `rebaseRidge` should move it: weights reach 2^256 ≈ 1e77, squares 1e154, far from 1e308. */
export const REBASE_AFTER_HALF_LIVES = 256;

export function emptyRidgeStats(dimension: number, epoch = 0): RidgeStats {
  return { dimension, xx: new Array<number>(packedLength(dimension)).fill(0), xr: new Array<number>(dimension).fill(0), rr: 0, weight: 0, count: 0, epoch };
}

/** 2^((t − epoch)/h): how much an observation at `atSeconds` is stored with; 1 without forgetting. */
function storedWeight(atSeconds: number, epoch: number, forgetting: Forgetting): number {
  const h = forgetting.halfLifeSeconds;
  return h === undefined ? 1 : 2 ** ((atSeconds - epoch) / h);
}

/** The increment one rewarded context adds to statistics of epoch `epoch`. */
export function ridgeObservation(x: readonly number[], reward: number, opts: Forgetting & { atSeconds?: number; epoch?: number } = {}): RidgeStats {
  const d = x.length;
  const epoch = opts.epoch ?? 0;
  const w = storedWeight(opts.atSeconds ?? epoch, epoch, opts);
  const stats = emptyRidgeStats(d, epoch);
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) stats.xx[packedIndex(d, i, j)] = w * x[i] * x[j];
    stats.xr[i] = w * reward * x[i];
  }
  stats.rr = w * reward * reward;
  stats.weight = w;
  stats.count = 1;
  return stats;
}

/**
 * Adds one unweighted observation to `stats` in place: for fits over a whole log at once
 * (off-policy evaluation), where a fresh object per observation would cost more than the fit.
 */
export function accumulateObservation(stats: RidgeStats, x: readonly number[], reward: number): void {
  const d = stats.dimension;
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) stats.xx[packedIndex(d, i, j)] += x[i] * x[j];
    stats.xr[i] += reward * x[i];
  }
  stats.rr += reward * reward;
  stats.weight += 1;
  stats.count += 1;
}

function combine(a: RidgeStats, b: RidgeStats, sign: 1 | -1): RidgeStats {
  if (a.dimension !== b.dimension || a.epoch !== b.epoch) {
    throw new RangeError(`ridge statistics differ in dimension or epoch: ${a.dimension}@${a.epoch} vs ${b.dimension}@${b.epoch}`);
  }
  return {
    dimension: a.dimension,
    xx: a.xx.map((v, i) => v + sign * b.xx[i]),
    xr: a.xr.map((v, i) => v + sign * b.xr[i]),
    rr: a.rr + sign * b.rr,
    weight: a.weight + sign * b.weight,
    count: a.count + sign * b.count,
    epoch: a.epoch,
  };
}

/** a + b, of the same dimension and epoch (rebase one first). */
export function addRidge(a: RidgeStats, b: RidgeStats): RidgeStats {
  return combine(a, b, 1);
}

/** a − b: a's observations that b does not have, when b's are among a's (a fold left out, for cross-fitting). */
export function subtractRidge(a: RidgeStats, b: RidgeStats): RidgeStats {
  return combine(a, b, -1);
}

/** The same statistics relative to a later epoch: every field times 2^(−(epoch − old)/h). */
export function rebaseRidge(stats: RidgeStats, epoch: number, forgetting: Forgetting): RidgeStats {
  const f = 1 / storedWeight(epoch, stats.epoch, forgetting);
  return { ...stats, xx: stats.xx.map((v) => v * f), xr: stats.xr.map((v) => v * f), rr: stats.rr * f, weight: stats.weight * f, epoch };
}

/** A fitted ridge model of one arm's reward: θ̂ = A⁻¹b with A = λI + S, as of one instant. */
export interface RidgeModel {
  dimension: number;
  /** θ̂. */
  theta: Float64Array;
  /** Cholesky factor of A, for xᵀA⁻¹x. */
  cholesky: Float64Array;
  /** Residual sum of squares Σ wᵢ(rᵢ − xᵢᵀθ̂)² (≥ 0). */
  rss: number;
  /** Σ wᵢ as of the instant fitted. */
  weight: number;
}

export interface RidgeFitOptions extends Forgetting {
  /** λ: the prior's precision relative to the noise, θ ~ N(0, σ²/λ · I). @default 1 */
  ridge?: number;
  /** When the model is read (Unix seconds), for forgetting. @default the statistics' epoch */
  atSeconds?: number;
}

export const DEFAULT_RIDGE = 1;

/**
 * The ridge fit of `stats` (Hoerl & Kennard 1970); also the posterior mean of θ under the
 * Gaussian prior θ ~ N(0, σ²/λ·I), with posterior covariance σ²A⁻¹ (Bishop, "Pattern
 * Recognition and Machine Learning", 2006, §3.3). The residual sum of squares comes from
 * the sums alone: Σw(r − xᵀθ̂)² = Σwr² − 2θ̂ᵀb + θ̂ᵀSθ̂, and with Aθ̂ = b, θ̂ᵀSθ̂ = θ̂ᵀb − λ‖θ̂‖²,
 * so RSS = Σwr² − θ̂ᵀb − λ‖θ̂‖².
 */
export function fitRidge(stats: RidgeStats, opts: RidgeFitOptions = {}): RidgeModel {
  const lambda = opts.ridge ?? DEFAULT_RIDGE;
  if (!(lambda > 0)) throw new RangeError(`ridge must be > 0, got ${lambda}`);
  const d = stats.dimension;
  const decay = 1 / storedWeight(opts.atSeconds ?? stats.epoch, stats.epoch, opts);
  const A = stats.xx.map((v) => v * decay);
  for (let i = 0; i < d; i++) A[packedIndex(d, i, i)] += lambda;
  const b = stats.xr.map((v) => v * decay);
  // S is a sum of outer products and λ > 0, so A is positive definite; only rounding on
  // sums of wildly different magnitudes could make a pivot vanish: then the prior alone.
  const L = cholesky(A, d) ?? cholesky(priorOnly(d, lambda), d)!;
  const theta = choleskySolve(L, d, b);
  const rss = Math.max(0, stats.rr * decay - dot(theta, b) - lambda * dot(theta, theta));
  return { dimension: d, theta, cholesky: L, rss, weight: stats.weight * decay };
}

function priorOnly(d: number, lambda: number): number[] {
  const A = new Array<number>(packedLength(d)).fill(0);
  for (let i = 0; i < d; i++) A[packedIndex(d, i, i)] = lambda;
  return A;
}

/** xᵀθ̂: the model's expected reward at context x. */
export function predictRidge(model: RidgeModel, x: readonly number[]): number {
  return dot(model.theta, x);
}

/** xᵀA⁻¹x: the posterior variance of xᵀθ in units of the noise variance σ². */
export function ridgeLeverage(model: RidgeModel, x: readonly number[]): number {
  return inverseQuadraticForm(model.cholesky, model.dimension, x);
}
