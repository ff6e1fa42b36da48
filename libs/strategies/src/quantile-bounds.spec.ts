import { quantileShownAbove, quantileShownAtMost, shareShown } from './quantile-bounds';
import { LATENCY_BUCKETS_MS, latencyBucket } from './report';
import { seededRng } from './rng';

/** Bucket counts: `count` requests at each latency (ms) given. */
function buckets(...at: [ms: number, count: number][]): number[] {
  const counts = LATENCY_BUCKETS_MS.map(() => 0);
  for (const [ms, count] of at) counts[latencyBucket(ms)] += count;
  return counts;
}

describe(shareShown.name, () => {
  it('is the equal-weight mixture of the twelve odds-grid likelihood ratios against 1/alpha', () => {
    // 8 of 20 above at s0 = 0.1. The term at odds ratio 2^j is (s_j/0.1)^8 ((1 − s_j)/0.9)^12
    // with s_j = 0.1·2^j / (0.9 + 0.1·2^j): 38.05, 344.84, 412.80, 47.22, 0.61, 0.002 and
    // nearly 0 for j = 7…12; their mean is 70.29.
    expect(shareShown(8, 20, 0.1, 'above', 1 / 70.2)).toBe(true);
    expect(shareShown(8, 20, 0.1, 'above', 1 / 70.4)).toBe(false);
  });

  it('shows nothing without observations, and nothing in the wrong direction', () => {
    expect(shareShown(0, 0, 0.01, 'above', 0.05)).toBe(false);
    expect(shareShown(0, 0, 0.01, 'below', 0.05)).toBe(false);
    expect(shareShown(0, 100_000, 0.01, 'above', 0.05)).toBe(false);
    expect(shareShown(100_000, 100_000, 0.01, 'below', 0.05)).toBe(false);
  });

  it('needs 460 requests with none slow to show a share below 1 % at alpha 0.0125', () => {
    expect(shareShown(0, 459, 0.01, 'below', 0.0125)).toBe(false);
    expect(shareShown(0, 460, 0.01, 'below', 0.0125)).toBe(true);
  });

  /**
   * Looked at after every observation up to 2000, a share exactly at s0 (the null's edge,
   * where it is hardest) is ever "shown" in at most alpha of the runs (Ville): 400 runs,
   * alpha 0.05, allowing three standard errors.
   */
  it.each(['above', 'below'] as const)('errs ≤ alpha looked at after every observation (%s)', (direction) => {
    const rng = seededRng(direction === 'above' ? 11 : 12);
    const [runs, alpha, s0] = [400, 0.05, 0.01];
    let shown = 0;
    for (let run = 0; run < runs; run++) {
      let k = 0;
      for (let n = 1; n <= 2000; n++) {
        k += +(rng() < s0);
        if (shareShown(k, n, s0, direction, alpha)) {
          shown++;
          break;
        }
      }
    }
    expect(shown / runs).toBeLessThanOrEqual(alpha + 3 * Math.sqrt((alpha * (1 - alpha)) / runs));
  });
});

describe('latency p99 bounds from buckets', () => {
  it('bounds a tail it has enough requests for, on the bucket grid', () => {
    // 3 % of 2000 in (50, 100] ms, the rest in (10, 20]: p99 is in (50, 100].
    const counts = buckets([15, 1940], [80, 60]);
    expect(quantileShownAbove(counts, 0.99, 0.0125)).toBe(50);
    expect(quantileShownAtMost(counts, 0.99, 0.0125)).toBe(100);
  });

  it('bounds nothing from a hundred requests, however they lie', () => {
    // One slow request of 110 is 0.9 %: p99's estimate would jump to its bucket.
    const counts = buckets([15, 109], [3000, 1]);
    expect(quantileShownAbove(counts, 0.99, 0.0125)).toBe(10);
    expect(quantileShownAtMost(counts, 0.99, 0.0125)).toBe(Infinity);
  });

  it('is 0 and Infinity with no requests', () => {
    const empty = LATENCY_BUCKETS_MS.map(() => 0);
    expect(quantileShownAbove(empty, 0.99, 0.05)).toBe(0);
    expect(quantileShownAtMost(empty, 0.99, 0.05)).toBe(Infinity);
  });
});
