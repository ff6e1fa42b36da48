import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';

interface Tick {
  t: number;
  label: string;
}

/** The browser script as the page runs it: it sets `SwitchyardTimeAxis` on its global object. */
function load(): { timeTicks: (t0: number, t1: number, most: number) => Tick[] } {
  const sandbox: { SwitchyardTimeAxis?: ReturnType<typeof load> } = {};
  runInNewContext(readFileSync(join(__dirname, 'static', 'time-axis.js'), 'utf8'), sandbox);
  return sandbox.SwitchyardTimeAxis!;
}

describe('the dashboard time axis (time-axis.js)', () => {
  const tz = process.env.TZ;
  beforeAll(() => (process.env.TZ = 'UTC'));
  afterAll(() => (process.env.TZ = tz));
  const { timeTicks } = load();
  const at = (iso: string) => Date.parse(iso);
  const labels = (ticks: Tick[]) => ticks.map((tick) => tick.label);

  it('labels a span along its length at round seconds, not only at its ends', () => {
    expect(labels(timeTicks(at('2026-12-07T07:29:41.300Z'), at('2026-12-07T07:29:53Z'), 7))).toEqual([
      '07:29:42',
      '07:29:44',
      '07:29:46',
      '07:29:48',
      '07:29:50',
      '07:29:52',
    ]);
  });

  it('takes the smallest round step that keeps to the most ticks asked for', () => {
    // 37 min 50 s: 5-minute steps would give 8 ticks, 10-minute ones give 4.
    expect(labels(timeTicks(at('2026-12-07T07:03:10Z'), at('2026-12-07T07:41:00Z'), 7))).toEqual(['07:10', '07:20', '07:30', '07:40']);
  });

  it('dates the ticks at midnight, so a span over days says which day', () => {
    expect(labels(timeTicks(at('2026-12-01T05:00:00Z'), at('2026-12-04T05:00:00Z'), 7))).toEqual(['12:00', '2 Dec', '12:00', '3 Dec', '12:00', '4 Dec']);
    expect(labels(timeTicks(at('2026-12-01T05:00:00Z'), at('2026-12-05T05:00:00Z'), 7))).toEqual(['2 Dec', '3 Dec', '4 Dec', '5 Dec']);
  });

  it('steps in whole days past the longest round step', () => {
    const ticks = timeTicks(at('2026-01-01T00:00:00Z'), at('2027-01-01T00:00:00Z'), 7);
    expect(ticks.length).toBeLessThanOrEqual(7);
    expect(ticks.length).toBeGreaterThanOrEqual(5);
    expect(ticks.every((tick) => tick.t % (24 * 3600 * 1000) === 0)).toBe(true);
    expect(new Set(labels(ticks)).size).toBe(ticks.length);
  });
});
