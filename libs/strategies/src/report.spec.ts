import { buildReport, latencyBucket, LATENCY_BUCKETS_MS, quantileFromBuckets, reportFields } from './report';

describe(reportFields.name, () => {
  it('counts a success in its latency bucket', () => {
    expect(reportFields({ variant: 'v1', role: 'served', latencyMs: 7 })).toEqual(['v1:served:requests', 'v1:served:lat:3']);
  });

  it('counts an error without latency, and shadow agreement when known', () => {
    expect(reportFields({ variant: 'v2', role: 'shadow', latencyMs: 3, error: 'timeout: x' })).toEqual(['v2:shadow:requests', 'v2:shadow:errors']);
    expect(reportFields({ variant: 'v2', role: 'shadow', latencyMs: 0.5, agreesWithPrimary: true })).toEqual([
      'v2:shadow:requests',
      'v2:shadow:lat:0',
      'v2:shadow:compared',
      'v2:shadow:agree',
    ]);
    expect(reportFields({ variant: 'v2', role: 'shadow', latencyMs: 0.5, agreesWithPrimary: false })).not.toContain('v2:shadow:agree');
  });

  it('counts a fallback against the arm that was chosen, and served requests per spec version', () => {
    expect(reportFields({ variant: 'v1', role: 'served', latencyMs: 7, fallbackFrom: 'v2', specVersion: 4 })).toEqual([
      'v1:served:requests',
      'v1:served:lat:3',
      'v2:served:fallbacks',
      'v1:served:requests@4',
      'v2:served:fallbacks@4',
    ]);
    expect(reportFields({ variant: 'v2', role: 'shadow', latencyMs: 7, specVersion: 4 })).toEqual(['v2:shadow:requests', 'v2:shadow:lat:3']);
  });
});

describe(latencyBucket.name, () => {
  it('puts a value in the first bucket whose bound is not below it', () => {
    expect(latencyBucket(0)).toBe(0);
    expect(latencyBucket(1)).toBe(0);
    expect(latencyBucket(1.01)).toBe(1);
    expect(latencyBucket(1e9)).toBe(LATENCY_BUCKETS_MS.length - 1);
  });
});

describe(quantileFromBuckets.name, () => {
  it('answers the bound of the bucket where the quantile falls', () => {
    const counts = LATENCY_BUCKETS_MS.map(() => 0);
    counts[2] = 50; // ≤ 5 ms
    counts[5] = 45; // ≤ 50 ms
    counts[8] = 5; // ≤ 500 ms
    expect(quantileFromBuckets(counts, 0.5)).toBe(5);
    expect(quantileFromBuckets(counts, 0.95)).toBe(50);
    expect(quantileFromBuckets(counts, 0.99)).toBe(500);
    expect(
      quantileFromBuckets(
        LATENCY_BUCKETS_MS.map(() => 0),
        0.5,
      ),
    ).toBeNull();
  });
});

describe(buildReport.name, () => {
  it('reports variants named constructor and __proto__ like any other, without touching Object.prototype', () => {
    const rewards = Object.assign(Object.create(null), { constructor: { count: 2, sum: 1, sumSq: 1 } });
    Object.defineProperty(rewards, '__proto__', { value: { count: 1, sum: 1, sumSq: 1 }, enumerable: true });
    const sut = buildReport({ 'constructor:served:requests': '4', '__proto__:served:requests': '5', '__proto__:served:errors': '1' }, rewards);
    expect(Object.keys(sut).sort()).toEqual(['__proto__', 'constructor']);
    expect(sut['constructor'].served).toMatchObject({ requests: 4, errors: 0, reward: { count: 2, mean: 0.5 } });
    expect(sut['__proto__'].served).toMatchObject({ requests: 5, errors: 1, reward: { count: 1, mean: 1 } });
    expect(({} as Record<string, unknown>).served).toBeUndefined();
    expect((Object as unknown as Record<string, unknown>).served).toBeUndefined();
  });

  it('groups counters by variant and role and adds rewards', () => {
    const counters = {
      'v1:served:requests': '10',
      'v1:served:errors': '2',
      'v1:served:lat:3': '8',
      'v2:shadow:requests': '10',
      'v2:shadow:lat:1': '10',
      'v2:shadow:compared': '10',
      'v2:shadow:agree': '7',
    };
    const sut = buildReport(counters, { v1: { count: 4, sum: 3, sumSq: 3 }, 'v2:shadow': { count: 2, sum: 2, sumSq: 2 } });
    expect(sut.v1.served).toMatchObject({ requests: 10, errors: 2, latencyMs: { p50: 10, p95: 10 }, reward: { count: 4, mean: 0.75 } });
    expect(sut.v1.served!.agreement).toBeUndefined();
    expect(sut.v1.served!.reward!.low).toBeLessThan(0.75);
    expect(sut.v2.shadow).toMatchObject({ requests: 10, agreement: { rate: 0.7, compared: 10 }, reward: { count: 2, mean: 1 } });
  });
});
