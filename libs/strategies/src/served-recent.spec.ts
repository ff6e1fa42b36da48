import type { DeploymentSpec } from '@switchyard/contracts';
import { RECENT_BUCKET_SECONDS, RECENT_MINUTES, recentBucket, recentBuckets, recentCounts, recentExpiresAt, recentServed } from './served-recent';

const spec = { variants: [{ name: 'v1' }, { name: 'v2' }] } as DeploymentSpec;
const at = (h: number, m: number, s: number) => Date.UTC(2026, 11, 7, h, m, s);

describe('recent served buckets', () => {
  it('puts a request in the minute it was served, and reads the current minute and the ones before it', () => {
    expect(recentBucket(new Date(at(8, 0, 59)).toISOString())).toBe(at(8, 0, 0) / 1000);
    expect(recentBucket(at(8, 1, 0))).toBe(at(8, 1, 0) / 1000);
    const window = recentBuckets(new Date(at(8, 10, 30)));
    expect(window).toHaveLength((RECENT_MINUTES * 60) / RECENT_BUCKET_SECONDS);
    expect(window[0]).toBe(at(8, 10, 0) / 1000);
    expect(window.at(-1)).toBe(at(8, 10 - RECENT_MINUTES + 1, 0) / 1000);
  });

  it('lets a bucket expire only once no window reads it', () => {
    const bucket = at(8, 0, 0) / 1000;
    const lastRead = at(8, RECENT_MINUTES - 1, 59);
    expect(recentBuckets(new Date(lastRead))).toContain(bucket);
    expect(recentBuckets(new Date(lastRead + 1000))).not.toContain(bucket);
    expect(recentExpiresAt(bucket) * 1000).toBeGreaterThan(lastRead);
  });

  it('counts served requests per minute and variant, never a shadow call nor an unreadable time', () => {
    const served = (variant: string, s: number) => ({ role: 'served' as const, variant, occurredAt: new Date(at(8, 0, s)).toISOString() });
    expect(
      recentCounts([
        served('v1', 1),
        served('v1', 59),
        served('v2', 2),
        served('v1', 61),
        { ...served('v2', 3), role: 'shadow' },
        { ...served('v1', 4), occurredAt: 'x' },
      ]),
    ).toEqual([
      [at(8, 0, 0) / 1000, 'v1', 2],
      [at(8, 0, 0) / 1000, 'v2', 1],
      [at(8, 1, 0) / 1000, 'v1', 1],
    ]);
  });

  it("gives the shares of the spec's variants over the window, null with nothing served in it", () => {
    expect(recentServed(spec, [{ v1: 3 }, { v1: 1, v2: 4, old: 100 }])).toEqual({ minutes: RECENT_MINUTES, shares: { v1: 0.5, v2: 0.5 }, requests: 8 });
    expect(recentServed(spec, [{}, { old: 3 }])).toBeNull();
  });
});
