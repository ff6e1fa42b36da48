import {
  addReportCounts,
  buildReport,
  splitKey,
  latencyBucket,
  LATENCY_BUCKETS_MS,
  propensitySums,
  quantileFromBuckets,
  reportCounts,
  reportFields,
  unitCountKeys,
  type UnitMemory,
} from './report';
import { unitSampled } from './srm';

describe(reportCounts.name, () => {
  const served = { variant: 'v1', role: 'served' as const, latencyMs: 7, specVersion: 4 };

  it("adds a bandit's 1/p and 1/p² in integer units to the arm chosen, under its spec version", () => {
    expect(reportCounts({ ...served, strategy: 'bandit', probability: 0.25 })).toEqual({
      fields: reportFields(served),
      sums: [
        ['v1:served:ipw@4', 4_000_000],
        ['v1:served:ipwSq@4', 16_000],
      ],
    });
    // A fallback answer: its propensity is the chosen v2's, and so are the sums.
    expect(reportCounts({ ...served, strategy: 'plan', probability: 0.3, fallbackFrom: 'v2' }).sums).toEqual([
      ['v2:served:ipw@4', 3_333_333],
      ['v2:served:ipwSq@4', 11_111],
    ]);
  });

  it('keeps no sums for other strategies or shadows, and only counts a propensity too small to weigh', () => {
    expect(reportCounts({ ...served, strategy: 'canary', probability: 0.1 }).sums).toEqual([]);
    expect(reportCounts({ ...served, role: 'shadow', strategy: 'bandit', probability: 0.1 }).sums).toEqual([]);
    expect(reportCounts({ ...served, strategy: 'bandit', probability: 0.0009 }).sums).toEqual([['v1:served:ipwSkipped@4', 1]]);
  });

  it('recounts to what the units decode to', () => {
    const counters = new Map<string, number>();
    for (const probability of [0.25, 0.5, 0.5]) addReportCounts(counters, reportCounts({ ...served, strategy: 'bandit', probability }), new Map());
    expect(counters.get('v1:served:requests')).toBe(3);
    const measures = new Map([...counters].map(([field, value]) => [field.slice('v1:served:'.length), value]));
    expect(propensitySums(measures, 4)).toEqual({ sum: 8, sumSq: 24, skipped: 0 });
    expect(propensitySums(measures, 3)).toEqual({ sum: 0, sumSq: 0, skipped: 0 });
  });
});

describe(splitKey.name, () => {
  it('is the spec version, with a plan step past the first after a dot', () => {
    expect(splitKey(4)).toBe('4');
    expect(splitKey(4, 2)).toBe('4.2');
  });
});

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

  it("counts a plan's served requests and propensities per step too", () => {
    const prediction = { variant: 'v1', role: 'served' as const, latencyMs: 7, specVersion: 4, step: 2, strategy: 'bandit' as const, probability: 0.5 };
    expect(reportFields(prediction)).toContain('v1:served:requests@4.2');
    expect(reportCounts(prediction).sums.map(([field]) => field)).toEqual(['v1:served:ipw@4.2', 'v1:served:ipwSq@4.2']);
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

describe('distinct units for the split check', () => {
  const canary = { variant: 'v2', role: 'served' as const, latencyMs: 7, specVersion: 4, strategy: 'canary' as const, requestId: 'r1' };

  it('counts a canary unit under the arm the split chose and the split key, a request without a unit key as its own', () => {
    expect(reportCounts({ ...canary, unitKey: 'u1' }).units).toEqual([{ key: '4', member: 'u1', field: 'v2:served:units@4' }]);
    expect(reportCounts({ ...canary, variant: 'v1', fallbackFrom: 'v2', unitKey: 'u1', step: 2 }).units).toEqual([
      { key: '4.2', member: 'u1', field: 'v2:served:units@4.2' },
    ]);
    expect(reportCounts(canary).units).toEqual([{ key: '4', member: '', field: 'v2:served:units@4' }]);
  });

  it('counts no units where no split assigns them (single, shadow, bandit) nor for shadow answers', () => {
    for (const strategy of ['single', 'shadow', 'bandit'] as const) expect(reportCounts({ ...canary, strategy, unitKey: 'u1' }).units).toBeUndefined();
    expect(reportCounts({ ...canary, role: 'shadow', unitKey: 'u1' }).units).toBeUndefined();
  });

  it('counts the deterministic 1-in-k subsample of units, by unit key, else by request id', () => {
    const keys = Array.from({ length: 200 }, (_, i) => `unit-${i}`);
    const counted = keys.filter((unitKey) => reportCounts({ ...canary, unitKey }, { sampleEvery: 4, maxPerKey: 1000 }).units !== undefined);
    expect(counted).toEqual(keys.filter((key) => unitSampled(key, 4)));
    expect(counted.length).toBeGreaterThan(25);
    expect(counted.length).toBeLessThan(75);
    const byRequest = keys.filter((requestId) => reportCounts({ ...canary, requestId }, { sampleEvery: 4, maxPerKey: 1000 }).units !== undefined);
    expect(byRequest).toEqual(counted);
  });

  it('adds each unit once per split key, requests without one each time, up to the cap over all arms of the key', () => {
    const counters = new Map<string, number>();
    const memory: UnitMemory = new Map();
    const add = (unitKey: string | undefined, variant = 'v2', specVersion = 4) =>
      addReportCounts(counters, reportCounts({ ...canary, variant, specVersion, ...(unitKey && { unitKey }) }), memory, 3);
    add('u1');
    add('u1');
    add(undefined);
    add('u2', 'v1');
    add('u3', 'v1');
    add('u1', 'v2', 5);
    expect(counters.get('v2:served:units@4')).toBe(2);
    expect(counters.get('v1:served:units@4')).toBe(1);
    expect(counters.get('v2:served:units@5')).toBe(1);
    expect(memory.get('#4')).toBe(3);
    expect(counters.get('v2:served:requests')).toBe(4);
  });

  it('names the split keys a report counted units under', () => {
    expect(unitCountKeys({ 'v1:served:units@4': 3, 'v2:served:units@4.1': 1, 'v1:served:requests@3': 9 }).sort()).toEqual(['4', '4.1']);
  });
});
