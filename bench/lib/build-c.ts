import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { BenchError } from './errors.js';

const execFileAsync = promisify(execFile);

/**
 * Compiles one C file into an executable with `cc -O2`, unless the
 * executable is already newer than the source. Returns the output path.
 * The compiler is $CC if set, else `cc`.
 */
export async function buildCProgram(source: string, output: string): Promise<string> {
  if (!existsSync(source)) throw new BenchError(`C source not found: ${source}`);
  if (existsSync(output) && statSync(output).mtimeMs >= statSync(source).mtimeMs) return output;
  mkdirSync(dirname(output), { recursive: true });
  const compiler = process.env['CC'] || 'cc';
  try {
    await execFileAsync(compiler, ['-O2', '-Wall', '-Wextra', '-o', output, source]);
  } catch (error) {
    const stderr = error instanceof Error && 'stderr' in error ? String(error.stderr).trim() : '';
    const detail = stderr.split('\n').find((line) => line.includes('error')) ?? stderr.split('\n')[0];
    const reason = detail || (error instanceof Error ? error.message : String(error));
    throw new BenchError(`could not compile ${source} with ${compiler}: ${reason}`);
  }
  return output;
}
