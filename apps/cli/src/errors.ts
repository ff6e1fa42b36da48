/**
 * Exit codes scripts can rely on (docs/operations.md, "The `switchyard` command line"):
 * 0 done; 1 the router (or Kafka) refused: its message is printed; 2 bad arguments or
 * input file; 3 the router (or Kafka) could not be reached.
 */
export const EXIT = { ok: 0, api: 1, usage: 2, unreachable: 3 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export const usageError = (message: string) => new CliError(message, EXIT.usage);
export const apiError = (message: string) => new CliError(message, EXIT.api);
export const unreachable = (message: string) => new CliError(message, EXIT.unreachable);
