/** One benchmark that `node dist/bench/main.js NAME` can run. */
export interface Benchmark {
  name: string;
  /** One line for the list of benchmarks. */
  summary: string;
  /** Options text for `main.js NAME --help` and usage errors. */
  usage: string;
  /** Runs with the arguments after NAME; resolves to the exit status. */
  run(argv: string[]): Promise<number>;
}
