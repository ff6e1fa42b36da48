/**
 * `npm run sim`: offline Monte Carlo simulations of Switchyard's decision rules, with the
 * real functions from libs/strategies and seeded randomness (no Kafka, Redis or services).
 * Markdown on stdout and in .bench/sim.md. See docs/statistics.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { SimPart } from './part';
import * as registered from './parts';

const PARTS: readonly SimPart[] = Object.values(registered);
const ROOT = join(__dirname, '..', '..', '..');
const OUT = join(ROOT, '.bench', 'sim.md');

const HELP = `Usage: npm run sim -- [options]

Simulates Switchyard's decision rules offline with the real functions and seeded
randomness, and prints the results as Markdown (also written to .bench/sim.md).

Parts:
${PARTS.map((part) => `  ${part.name.padEnd(12)} ${part.summary}`).join('\n')}

Options:
  --only <list>   comma-separated parts to run (default all): ${PARTS.map((part) => part.name).join(',')}
  --runs <n>      simulated runs per scenario (default: each part's own)
  --seed <n>      seed of every random stream (default 1); the same seed gives the same tables
  --workers <n>   threads for the parts that use them (decisions; default 2); results do not depend on it
  -h, --help      show this help
`;

function positiveInteger(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number ≥ 1, got ${JSON.stringify(value)}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      runs: { type: 'string' },
      seed: { type: 'string', default: '1' },
      workers: { type: 'string', default: '2' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const names = (values.only ?? PARTS.map((part) => part.name).join(',')).split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !PARTS.some((part) => part.name === name));
  if (unknown.length) throw new Error(`--only: unknown part(s) ${unknown.join(', ')}; choose from ${PARTS.map((part) => part.name).join(',')}`);
  const options = {
    runs: values.runs === undefined ? undefined : positiveInteger('runs', values.runs),
    seed: Number(values.seed),
    workers: positiveInteger('workers', values.workers),
  };
  if (!Number.isInteger(options.seed)) throw new Error(`--seed must be an integer, got ${JSON.stringify(values.seed)}`);

  const sections: string[] = [];
  for (const part of PARTS.filter((p) => names.includes(p.name))) {
    const started = process.hrtime.bigint();
    process.stderr.write(`[sim] ${part.name} …\n`);
    const section = await part.run(options);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    process.stderr.write(`[sim] ${part.name} done in ${seconds.toFixed(1)} s\n`);
    sections.push(section.trimEnd());
  }
  const args = process.argv.slice(2);
  const command = ['npm run sim', ...(args.length ? ['--', ...args] : [])].join(' ');
  const header = `Simulation: \`${command}\` (seed ${options.seed}), Node ${process.version}.`;
  const markdown = [header, ...sections].join('\n\n') + '\n';
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  writeFileSync(OUT, markdown);
  process.stdout.write(markdown);
}

main().catch((error: Error) => {
  process.stderr.write(`[sim] failed: ${error.message}\n`);
  process.exitCode = 1;
});
