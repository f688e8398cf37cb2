/**
 * `tkvm perf NAME [--duration S] [--frequency HZ] [--symbols FILE]
 * [--output FILE] [--top N]`: samples every vCPU's RIP in a running VM
 * (the control command `perf`), resolves the samples against the guest
 * kernel's symbols and prints the busiest functions.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from '../command.js';
import { callVm } from '../../control/client.js';
import { clientOptions, oneVmName, parseFlags, processIo, runReporting, type CommandIo } from '../../control/cli-support.js';
import { MAX_PERF_CALL_MS, MAX_PERF_HZ } from '../../control/protocol.js';
import { loadSymbols, type SymbolTable } from '../../guest/symbols.js';
import type { ProfileSample } from '../../vmm/controller.js';
import { TkvmError, UsageError } from '../../util/errors.js';
import { countByFunction, mergeSamples, renderFolded, renderTopFunctions } from '../perf-report.js';

const usage = `usage: tkvm perf NAME [--duration SECONDS] [--frequency HZ] [--symbols FILE] [--output FILE] [--top N]

Samples where each vCPU of VM NAME is running: at HZ times a second it
kicks every vCPU, which reads its own RIP and runs on. Kernel samples are
resolved against the guest kernel's symbols, user-space samples are counted
as one entry. Prints a header, then 'PERCENT% SYMBOL' lines, busiest first.

  --duration SECONDS  how long to sample (default 10, at most 3600)
  --frequency HZ      samples per second per vCPU (default 99, at most ${MAX_PERF_HZ})
  --symbols FILE      the kernel's vmlinux (ELF with a symbol table) or
                      System.map; default: the file the VM booted, if it has
                      symbols, else vmlinux or System.map next to it
  --output FILE       also write folded stacks (leaf frames only:
                      'kernel;FUNCTION COUNT' and 'user COUNT'), the input
                      of flamegraph.pl and speedscope
  --top N             how many functions to print (default 25)`;

function positiveNumber(text: string | undefined, flag: string, fallback: number, max: number, integer: boolean): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  const ok = (integer ? /^\d+$/ : /^\d+(\.\d+)?$/).test(text) && value > 0 && value <= max;
  if (!ok) throw new UsageError(`${flag} must be ${integer ? 'an integer' : 'a number'} from ${integer ? 1 : 'above 0'} to ${max}, got ${JSON.stringify(text)}`);
  return value;
}

/** --symbols, else the booted file if it has symbols, else vmlinux / System.map beside it; null if none. */
function findSymbols(explicit: string | undefined, kernelPath: string): { table: SymbolTable; path: string } | null {
  if (explicit !== undefined) return { table: loadSymbols(explicit), path: explicit };
  for (const candidate of [kernelPath, join(dirname(kernelPath), 'vmlinux'), join(dirname(kernelPath), 'System.map')]) {
    if (!existsSync(candidate)) continue;
    try {
      return { table: loadSymbols(candidate), path: candidate };
    } catch (err) {
      if (!(err instanceof TkvmError)) throw err;
    }
  }
  return null;
}

/**
 * Sampling time per control call: short, so that a VM ending mid-profile
 * loses at most this much, and below the server's per-call limit.
 */
export const PERF_CHUNK_MS = Math.min(5000, MAX_PERF_CALL_MS);

export function makePerfCommand(io: CommandIo = processIo): Command {
  return {
    name: 'perf',
    summary: 'sample where a VM\'s vCPUs run, by guest kernel function',
    usage,
    run: (argv) =>
      runReporting(io, async () => {
        const { values, positionals } = parseFlags(argv, {
          duration: { type: 'string' }, frequency: { type: 'string' }, symbols: { type: 'string' },
          output: { type: 'string' }, top: { type: 'string' },
        }, true);
        const name = oneVmName(positionals, 'perf');
        const durationMs = Math.round(positiveNumber(values.duration, '--duration', 10, 3600, false) * 1000);
        const frequencyHz = positiveNumber(values.frequency, '--frequency', 99, MAX_PERF_HZ, true);
        const top = positiveNumber(values.top, '--top', 25, 100_000, true);
        // Symbols first, so that a bad --symbols fails before the sampling time is spent.
        if (values.symbols !== undefined) loadSymbols(values.symbols);
        const merged = new Map<string, ProfileSample>();
        let taken = 0;
        let lost = 0;
        let sampledMs = 0;
        let vcpus = 0;
        let kernelPath = '';
        let ended = false;
        for (let left = durationMs; left > 0 && !ended; left -= PERF_CHUNK_MS) {
          const chunk = Math.min(left, PERF_CHUNK_MS);
          let result;
          try {
            result = await callVm(name, 'perf', { durationMs: chunk, frequencyHz }, { ...clientOptions(io), timeoutMs: chunk + 5000 });
          } catch (err) {
            // A VM that ends while it is sampled (a boot profiled to its end): report what was gathered.
            if (taken === 0 || !(err instanceof TkvmError)) throw err;
            ended = true;
            break;
          }
          mergeSamples(merged, result.samples);
          taken += result.taken;
          lost += result.lost;
          sampledMs += result.durationMs;
          vcpus = result.vcpus;
          kernelPath = result.kernelPath;
        }
        const symbols = findSymbols(values.symbols, kernelPath);
        const samples = [...merged.values()];
        const counts = countByFunction(samples, symbols?.table ?? null);
        const userCount = samples.filter((s) => s.user).reduce((sum, s) => sum + s.count, 0);
        io.stdout(`# tkvm perf ${name}: ${taken} samples (${taken - userCount} kernel, ${userCount} user, ${lost} lost) over ${(sampledMs / 1000).toFixed(1)} s at ${frequencyHz} Hz on ${vcpus} vCPU${vcpus === 1 ? '' : 's'}\n`);
        if (ended) io.stdout(`# the VM ended or stopped answering after ${(sampledMs / 1000).toFixed(1)} s of sampling\n`);
        io.stdout(`# symbols: ${symbols ? symbols.path : `none found for ${kernelPath} (addresses shown; use --symbols)`}\n`);
        io.stdout(renderTopFunctions(counts, top));
        if (values.output !== undefined) {
          try {
            writeFileSync(values.output, renderFolded(counts));
          } catch (err) {
            throw new TkvmError('ERR_PERF_OUTPUT', `cannot write ${values.output}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
          }
          io.stdout(`# folded stacks (leaf frames only) written to ${values.output}\n`);
        }
        return 0;
      }),
  };
}

export const perfCommand: Command = makePerfCommand();
