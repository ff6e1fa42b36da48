/** What every part of `npm run sim` provides; register one with a line in `parts.ts`. */
export interface SimOptions {
  /** Simulated runs per scenario; undefined: the part's own default. */
  runs?: number;
  /** Every part derives its random streams from this, so the same seed gives the same tables. */
  seed: number;
  /** Threads a part may spread its runs over (parts that do say so in their notes). */
  workers?: number;
}

export interface SimPart {
  /** What `--only` selects it by. */
  name: string;
  /** One line for `--help`. */
  summary: string;
  /** Runs the simulation and returns its Markdown section (a heading, a table, notes). */
  run(options: SimOptions): string | Promise<string>;
}
