// One seeded generator for the whole tree: the demo problem draws from the same mulberry32 the bandits use.
import { type Rng, seededRng } from '@switchyard/strategies';
import { FEATURE_COUNT } from './churn';

export { type Rng, seededRng };

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
