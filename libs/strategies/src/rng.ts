/** A source of uniform numbers in [0, 1). `Math.random` is one; `seededRng` makes reproducible ones. */
export type Rng = () => number;

// Bound once: under a sandboxed global (jest's vm) each `Math.` lookup in a hot loop is slow.
const { imul, log, sqrt, cos, pow, PI } = Math;

/**
 * mulberry32: a 32-bit seeded generator, small and fast, good enough for Monte Carlo and
 * traffic sampling (not for secrets). The same seed gives the same sequence in every process.
 */
export function seededRng(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform number in (0, 1]: safe to take the logarithm of, or to raise to 1/shape. */
function openUniform(rng: Rng): number {
  return 1 - rng();
}

/** Standard normal by Box–Muller; the second value is dropped so the sampler keeps no state. */
export function sampleNormal(rng: Rng, mean = 0, sd = 1): number {
  const radius = sqrt(-2 * log(openUniform(rng)));
  return mean + sd * radius * cos(2 * PI * rng());
}

/** Gamma(shape, scale) by Marsaglia–Tsang; mean shape·scale. */
export function sampleGamma(rng: Rng, shape: number, scale = 1): number {
  if (!(shape > 0) || !(scale > 0)) throw new RangeError(`gamma needs shape > 0 and scale > 0, got ${shape}, ${scale}`);
  // Marsaglia–Tsang needs shape >= 1; Gamma(a) = Gamma(a + 1) · U^(1/a) lifts smaller shapes.
  if (shape < 1) return sampleGamma(rng, shape + 1, scale) * pow(openUniform(rng), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / sqrt(9 * d);
  for (;;) {
    const x = sampleNormal(rng);
    const v = (1 + c * x) ** 3;
    if (v <= 0) continue;
    const u = openUniform(rng);
    // The cheap squeeze accepts most draws before the logarithms are needed.
    if (u < 1 - 0.0331 * x ** 4) return d * v * scale;
    if (log(u) < 0.5 * x * x + d * (1 - v + log(v))) return d * v * scale;
  }
}

/** Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b); mean a / (a + b). */
export function sampleBeta(rng: Rng, a: number, b: number): number {
  const x = sampleGamma(rng, a);
  const y = sampleGamma(rng, b);
  // Tiny shapes can underflow both draws to 0; the mean is the honest answer then.
  return x + y > 0 ? x / (x + y) : a / (a + b);
}
