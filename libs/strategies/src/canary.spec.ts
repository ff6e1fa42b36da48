import { assignCanary, bucketOf, BUCKETS, canaryShare, murmur3 } from './canary';

const UNITS = Array.from({ length: 100_000 }, (_, i) => `user-${i}`);

function canaryShareOf(percent: number, deployment = 'churn'): number {
  return UNITS.filter((unit) => assignCanary(deployment, unit, percent) === 'canary').length / UNITS.length;
}

/** Straight transcription of the reference MurmurHash3_x86_32 over a byte array. */
function referenceMurmur3(bytes: Uint8Array, seed: number): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  const mix = (k: number) => Math.imul((Math.imul(k, c1) << 15) | (Math.imul(k, c1) >>> 17), c2);
  let h = seed;
  const whole = bytes.length & ~3;
  for (let i = 0; i < whole; i += 4) {
    h ^= mix(bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let tail = 0;
  for (let i = bytes.length - 1; i >= whole; i--) tail = (tail << 8) | bytes[i];
  if (bytes.length & 3) h ^= mix(tail);
  h ^= bytes.length;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

describe(murmur3.name, () => {
  // Published MurmurHash3 x86_32 vectors: other implementations bucket units identically.
  it.each([
    ['', 0, 0],
    ['', 1, 0x514e28b7],
    ['hello', 0, 0x248bfa47],
    ['Hello, world!', 1234, 0xfaf6cdb3],
    ['The quick brown fox jumps over the lazy dog', 0, 0x2e4ff723],
    ['abc', 0, 0xb3dd93fa],
    ['abcd', 0, 0x43ed676a],
  ])('murmur3(%p, %p) = %p', (text, seed, expected) => {
    expect(murmur3(text, seed)).toBe(expected);
  });

  it('hashes the UTF-8 bytes of non-ASCII text, as a reference over TextEncoder would', () => {
    for (const text of ['ü', 'naïve-ünït', '日本語のユーザー', 'emoji-😀-x', 'lone-\ud800-surrogate', 'a€']) {
      expect(murmur3(text, 7)).toBe(referenceMurmur3(new TextEncoder().encode(text), 7));
    }
  });
});

describe(bucketOf.name, () => {
  it('is the same on every call and differs between deployments', () => {
    expect(bucketOf('churn', 'alice')).toBe(bucketOf('churn', 'alice'));
    const moved = UNITS.slice(0, 1000).filter((unit) => bucketOf('churn', unit) !== bucketOf('fraud', unit)).length;
    expect(moved).toBeGreaterThan(990);
  });

  it('separates deployment and unit, so "a" + "bc" is not "ab" + "c"', () => {
    expect(bucketOf('a', 'bc')).not.toBe(bucketOf('ab', 'c'));
  });

  it('spreads units uniformly over the buckets (chi-square over 100 bands)', () => {
    const buckets = UNITS.map((unit) => bucketOf('churn', unit));
    expect(Math.min(...buckets)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...buckets)).toBeLessThan(BUCKETS);
    expect(buckets.every(Number.isInteger)).toBe(true);
    const bands = new Array(100).fill(0);
    for (const bucket of buckets) bands[Math.floor(bucket / 100)]++;
    const expected = UNITS.length / bands.length;
    const chiSquare = bands.reduce((sum, observed) => sum + (observed - expected) ** 2 / expected, 0);
    // 99 degrees of freedom: the 0.1 % critical value is 148.2.
    expect(chiSquare).toBeLessThan(148.2);
  });
});

describe(assignCanary.name, () => {
  it.each([1, 10, 50])('sends %p %% of 100k units to the canary, within 0.5 points', (percent) => {
    expect(Math.abs(canaryShareOf(percent) * 100 - percent)).toBeLessThan(0.5);
  });

  it('honours a fractional percent', () => {
    expect(Math.abs(canaryShareOf(2.5) * 100 - 2.5)).toBeLessThan(0.3);
  });

  it('sends nobody at 0 % and everybody at 100 %', () => {
    expect(canaryShareOf(0)).toBe(0);
    expect(canaryShareOf(100)).toBe(1);
  });

  it('is sticky: a unit gets the same arm on every call', () => {
    const first = UNITS.map((unit) => assignCanary('churn', unit, 30));
    const again = UNITS.map((unit) => assignCanary('churn', unit, 30));
    expect(again.filter((arm, i) => arm !== first[i]).length).toBe(0);
    expect(new Set(first)).toEqual(new Set(['canary', 'primary']));
  });

  it('is monotone: every unit that is canary at 10 % is canary at 20 %', () => {
    const at10 = UNITS.filter((unit) => assignCanary('churn', unit, 10) === 'canary');
    const at20 = new Set(UNITS.filter((unit) => assignCanary('churn', unit, 20) === 'canary'));
    expect(at10.length).toBeGreaterThan(9000);
    expect(at10.filter((unit) => !at20.has(unit))).toEqual([]);
  });
});

describe(canaryShare.name, () => {
  it('is the fraction of buckets the percent covers, robust to float error', () => {
    expect(canaryShare(10)).toBe(0.1);
    expect(canaryShare(2.5)).toBe(0.025);
    expect(canaryShare(0.07)).toBe(0.0007);
    expect(canaryShare(150)).toBe(1);
    expect(canaryShare(-5)).toBe(0);
  });
});
