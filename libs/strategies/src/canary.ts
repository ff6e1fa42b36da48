/** Units are hashed into this many buckets, so a canary percent has a resolution of 0.01. */
export const BUCKETS = 10_000;

// Bound once: under a sandboxed global (jest's vm) a `Math.` lookup per byte made hashing 10x slower.
const imul = Math.imul;
const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function scramble(k: number): number {
  k = imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return imul(k, C2);
}

/**
 * MurmurHash3 x86 32-bit over the UTF-8 bytes of `text`. A published algorithm with
 * published test vectors, so any process — or any other language — buckets a unit the
 * same way. The UTF-8 bytes are produced on the fly: allocating an encoded copy per
 * request made hashing several times slower.
 */
export function murmur3(text: string, seed = 0): number {
  let h = seed >>> 0;
  let block = 0;
  let length = 0;
  const push = (byte: number): void => {
    block |= byte << (8 * (length & 3));
    length++;
    if ((length & 3) === 0) {
      h ^= scramble(block);
      h = (h << 13) | (h >>> 19);
      h = (imul(h, 5) + 0xe6546b64) | 0;
      block = 0;
    }
  };
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code >= 0xd800 && code < 0xdc00 && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low < 0xe000) {
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    // A lone surrogate is encoded as U+FFFD, as TextEncoder does.
    if (code >= 0xd800 && code < 0xe000) code = 0xfffd;
    if (code < 0x80) push(code);
    else if (code < 0x800) {
      push(0xc0 | (code >> 6));
      push(0x80 | (code & 0x3f));
    } else if (code < 0x10000) {
      push(0xe0 | (code >> 12));
      push(0x80 | ((code >> 6) & 0x3f));
      push(0x80 | (code & 0x3f));
    } else {
      push(0xf0 | (code >> 18));
      push(0x80 | ((code >> 12) & 0x3f));
      push(0x80 | ((code >> 6) & 0x3f));
      push(0x80 | (code & 0x3f));
    }
  }
  if (length & 3) h ^= scramble(block);
  h ^= length;
  h ^= h >>> 16;
  h = imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The bucket (0 .. BUCKETS-1) of a unit within a deployment. The deployment name is part
 * of the key so a unit that is canary in one deployment is not canary in all of them.
 */
export function bucketOf(deployment: string, unitKey: string): number {
  return murmur3(`${deployment}\u0000${unitKey}`) % BUCKETS;
}

/** How many buckets a percent covers; rounding keeps 0.07 × 100 from becoming 7.000000000000001. */
function canaryBuckets(percent: number): number {
  return Math.min(BUCKETS, Math.max(0, Math.round(percent * (BUCKETS / 100))));
}

/** The share of units (0..1) a canary percent actually sends to the canary. */
export function canaryShare(percent: number): number {
  return canaryBuckets(percent) / BUCKETS;
}

/**
 * Canary iff the unit's bucket is below the percent's threshold: sticky (a unit keeps
 * its arm while the percent stands) and monotone (raising the percent only moves units
 * from primary to canary, never back).
 */
export function assignCanary(deployment: string, unitKey: string, percent: number): 'canary' | 'primary' {
  return bucketOf(deployment, unitKey) < canaryBuckets(percent) ? 'canary' : 'primary';
}
