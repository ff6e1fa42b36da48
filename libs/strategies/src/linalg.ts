/**
 * The little dense linear algebra ridge regression needs, for d ≤ MAX_CONTEXT_DIMENSION
 * (32): symmetric matrices packed by their upper triangle, a Cholesky factorisation and
 * the triangular solves. No matrix library is a dependency of the project, and these
 * are the textbook algorithms (Golub & Van Loan, "Matrix Computations", 4th ed., §4.2.5
 * for Cholesky, §3.1 for the triangular solves).
 */

/** Numbers a symmetric d × d matrix takes packed by its upper triangle. */
export function packedLength(d: number): number {
  return (d * (d + 1)) / 2;
}

/** Position of (i, j) in the packed upper triangle, row by row; symmetric in i and j. */
export function packedIndex(d: number, i: number, j: number): number {
  const [r, c] = i <= j ? [i, j] : [j, i];
  return r * d - (r * (r - 1)) / 2 + (c - r);
}

/**
 * The lower-triangular L with L·Lᵀ = A (row-major d × d, zeros above the diagonal), for A
 * given packed; undefined when A is not positive definite (a pivot ≤ 0, rounding included).
 */
export function cholesky(packed: ArrayLike<number>, d: number): Float64Array | undefined {
  const L = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    let pivot = packed[packedIndex(d, j, j)];
    for (let k = 0; k < j; k++) pivot -= L[j * d + k] * L[j * d + k];
    if (!(pivot > 0)) return undefined;
    const root = Math.sqrt(pivot);
    L[j * d + j] = root;
    for (let i = j + 1; i < d; i++) {
      let sum = packed[packedIndex(d, i, j)];
      for (let k = 0; k < j; k++) sum -= L[i * d + k] * L[j * d + k];
      L[i * d + j] = sum / root;
    }
  }
  return L;
}

/** y with L·y = b (forward substitution). */
export function solveLower(L: Float64Array, d: number, b: ArrayLike<number>): Float64Array {
  const y = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let sum = b[i];
    for (let k = 0; k < i; k++) sum -= L[i * d + k] * y[k];
    y[i] = sum / L[i * d + i];
  }
  return y;
}

/** x with Lᵀ·x = y (back substitution). */
export function solveUpperT(L: Float64Array, d: number, y: ArrayLike<number>): Float64Array {
  const x = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    let sum = y[i];
    for (let k = i + 1; k < d; k++) sum -= L[k * d + i] * x[k];
    x[i] = sum / L[i * d + i];
  }
  return x;
}

/** A⁻¹b from A's Cholesky factor. */
export function choleskySolve(L: Float64Array, d: number, b: ArrayLike<number>): Float64Array {
  return solveUpperT(L, d, solveLower(L, d, b));
}

/** xᵀA⁻¹x = ‖L⁻¹x‖², without forming A⁻¹. */
export function inverseQuadraticForm(L: Float64Array, d: number, x: ArrayLike<number>): number {
  const y = solveLower(L, d, x);
  let sum = 0;
  for (let i = 0; i < d; i++) sum += y[i] * y[i];
  return sum;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}
