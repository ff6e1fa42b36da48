import { FEATURE_COUNT } from './churn';

/** A source of uniform numbers in [0, 1), like `Math.random`. */
export type Rng = () => number;

/**
 * mulberry32: a tiny seeded PRNG, so a demo or test run can be replayed exactly.
 * Not for anything secret.
 */
export function seededRng(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Four uniform features in [0, 1), rounded to 4 decimals so payloads and logs stay
 * readable (the rounded value is what every model and the ground truth see).
 */
export function randomFeatures(rng: Rng): number[] {
  const features = new Array<number>(FEATURE_COUNT);
  for (let i = 0; i < FEATURE_COUNT; i++) features[i] = Math.round(rng() * 10_000) / 10_000;
  return features;
}

/**
 * A number in [0, 1) fixed by `seed` and `features`, the same in every process and
 * on every platform: FNV-1a over `seed|x0,x1,x2,x3` (JavaScript's own number-to-text,
 * which is exact and portable), then the murmur3 finaliser to spread the bits.
 */
export function stableUnitHash(seed: string, features: readonly number[]): number {
  const text = `${seed}|${features.join(',')}`;
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) / 4294967296;
}
