/** One `tkvm` subcommand. `run` returns the process exit status. */
export interface Command {
  name: string;
  /** One line for `tkvm help`. */
  summary: string;
  /** Usage text for `tkvm help NAME` and usage errors. */
  usage: string;
  run(argv: string[]): Promise<number>;
}
