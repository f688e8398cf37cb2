/**
 * Benchmark runner: `node dist/bench/main.js NAME [options]` (or
 * `npm run bench -- NAME [options]`). Benchmarks are not tests: they are
 * run on demand and print one JSON result line on stdout.
 * Exit status: the benchmark's own, 2 for an unknown name or bad options,
 * 1 when a benchmark could not run.
 */
import { TkvmError } from '../src/util/errors.js';
import { benchmarks, findBenchmark } from './benchmarks.js';

function listing(): string {
  const width = Math.max(...benchmarks.map((benchmark) => benchmark.name.length));
  const lines = benchmarks.map((benchmark) => `  ${benchmark.name.padEnd(width)}  ${benchmark.summary}`);
  return ['usage: node dist/bench/main.js NAME [options]   (NAME --help for options)', 'benchmarks:', ...lines].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${listing()}\n`);
    return name === undefined ? 2 : 0;
  }
  const benchmark = findBenchmark(name);
  if (benchmark === undefined) {
    process.stderr.write(`bench: unknown benchmark "${name}"\n${listing()}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${benchmark.usage}\n`);
    return 0;
  }
  try {
    return await benchmark.run(rest);
  } catch (error) {
    if (error instanceof TkvmError) {
      process.stderr.write(`bench ${name}: ${error.message}\n`);
      if (error.exitCode === 2) process.stderr.write(`${benchmark.usage}\n`);
      return error.exitCode;
    }
    const detail = error instanceof Error ? error.message : String(error);
    process.stderr.write(`bench ${name}: internal error: ${detail}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
