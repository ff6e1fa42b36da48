// The dashboard's time axis: pure, no DOM, loaded before dashboard.js (as
// window.SwitchyardTimeAxis) and unit tested in apps/router/src/ui/time-axis.spec.ts.
((root) => {
  'use strict';
  const SECOND = 1000;
  const MINUTE = 60 * SECOND;
  const HOUR = 60 * MINUTE;
  const DAY = 24 * HOUR;
  const TICK_STEPS = [
    ...[1, 2, 5, 10, 15, 30].map((n) => n * SECOND),
    ...[1, 2, 5, 10, 15, 30].map((n) => n * MINUTE),
    ...[1, 2, 3, 6, 12].map((n) => n * HOUR),
    ...[1, 2, 7, 14, 30].map((n) => n * DAY),
  ];

  /** A local time of day on the 24-hour clock, as the axes label it. */
  const clock = (t, seconds = true) =>
    new Date(t).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', ...(seconds && { second: '2-digit' }) });

  /**
   * Round instants between t0 and t1 for a time axis: the smallest step of TICK_STEPS
   * (past them, whole days) that gives at most `most` of them, on the local clock's
   * multiples of it (10:05, 10:10…). Each is labelled with the time, with seconds for
   * steps under a minute; one at midnight with its date, so a span over days says which day.
   */
  function timeTicks(t0, t1, most) {
    const span = t1 - t0;
    const step = TICK_STEPS.find((candidate) => span / candidate <= most) || Math.ceil(span / most / DAY) * DAY;
    const offset = new Date(t0).getTimezoneOffset() * MINUTE;
    const ticks = [];
    for (let t = Math.ceil((t0 - offset) / step) * step + offset; t <= t1; t += step) ticks.push(t);
    const midnight = (t) => step >= HOUR && new Date(t).getHours() === 0 && new Date(t).getMinutes() === 0;
    return ticks.map((t) => ({
      t,
      label: midnight(t) ? new Date(t).toLocaleDateString('en-GB', { day: 'numeric', month: 'short' }) : clock(t, step < MINUTE),
    }));
  }

  root.SwitchyardTimeAxis = { clock, timeTicks };
})(globalThis);
