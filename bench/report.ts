/** The bench report: the machine it ran on, one table of runs, the ratios against goals, and each part's own sections. */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { Options, Ratio, Row, fmt } from './harness';

export type Machine = ReturnType<typeof machine>;

export function machine() {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  return {
    cpu: /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    date: new Date().toISOString(),
  };
}

function modeOf(r: Row): string {
  switch (r.mode) {
    case 'rate':
      return `${r.offered}/s offered`;
    case 'kafka':
      return `Kafka, ${r.offered} msgs`;
    case 'pipeline':
      return `pipeline, ${r.offered} events`;
    default:
      return 'saturation';
  }
}

function rssOf(r: Row): string {
  const own = `${r.peakRssMb ?? '–'}${r.peakRssIsRunPeak ? '' : '*'}`;
  const others = Object.entries(r.otherPeakRssMb ?? {}).map(([name, mb]) => `${name} ${mb ?? '–'}`);
  return others.length ? `${own} (${others.join(', ')})` : own;
}

export function markdown(rows: Row[], ratios: Ratio[], sections: string[], info: Machine, opts: Options): string {
  const has = (test: (r: Row) => boolean) => rows.some(test);
  const lines = [
    `Machine: ${info.cpu}, ${info.cores} cores, ${info.memoryGb} GB, ${info.os}, Node ${info.node}; ${info.date}.`,
    // Only the kinds of run that were made: a partial run (--only) should not describe the others.
    ...(has((r) => r.mode === 'saturation')
      ? [
          `Saturation runs: autocannon, ${opts.connections} connections, ${opts.warmup} s warm-up then ${opts.duration} s measured, ${opts.rounds} interleaved round(s); each row is the mean of its rounds (each round in brackets).`,
        ]
      : []),
    ...(has((r) => r.id.startsWith('rate-'))
      ? [
          `Fixed-rate runs: open loop at ${opts.rates.join(' and ')} req/s for ${opts.duration} s after ${opts.warmup} s of warm-up at the same rate, latency from the scheduled send time.`,
        ]
      : []),
    ...(has((r) => r.cpuUs !== undefined)
      ? [
          "CPU µs/req: CPU time (user + system) of the target process per request (or event), from /proc: its own cost, whatever else shares the cores; in brackets, the local Kafka broker's CPU per request over the same seconds, above its idle rate (measured for 2 s before the warm-up, with the target up and idle).",
        ]
      : []),
    ...(has((r) => r.mode === 'kafka')
      ? [
          `Kafka runs: ${opts.messages} requests produced at once (after 500 to warm up); req/s = requests / time until the last answer is read; p50/p99 are round trips, queueing included.`,
        ]
      : []),
    ...(has((r) => r.id.startsWith('regret-'))
      ? [
          `Regret runs: ${opts.requests} requests paced at ${opts.regretRate} req/s through router, feedback-joiner and bandit-updater; see the regret section below.`,
        ]
      : []),
    '',
    '| run | target | mode | req/s (events/s) | p50 ms | p99 ms | errors | CPU µs/req | peak RSS MB | load avg |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.id}: ${r.label} | ${r.target} | ${modeOf(r)} | ${r.rps.toFixed(0)}${r.roundsRps && r.roundsRps.length > 1 ? ` (${r.roundsRps.map((x) => x.toFixed(0)).join(', ')})` : ''} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.errors} | ${fmt(r.cpuUs, 0)}${r.brokerCpuUs !== undefined && Number.isFinite(r.brokerCpuUs) ? ` (+${fmt(r.brokerCpuUs, 0)})` : ''} | ${rssOf(r)} | ${fmt(r.load1)} |`,
    ),
    '',
    '| ratio | value | goal | met |',
    '|---|---:|---|---|',
    ...ratios.map(
      (r) => `| ${r.name} | ${fmt(r.value)} | ${r.goal} | ${r.goal === '(info)' ? '' : r.met === undefined ? 'not measured' : r.met ? 'yes' : 'no'} |`,
    ),
  ];
  if (rows.some((r) => !r.peakRssIsRunPeak)) lines.push('', '\\* peak since process start (the per-run peak could not be reset).');
  for (const section of sections) lines.push('', section.trimEnd());
  return lines.join('\n') + '\n';
}
