/**
 * `tkvm top [--interval SECONDS] [--iterations N]`: every running VM,
 * refreshed each interval: state, vCPUs, exits per second by reason, device
 * I/O rates and RSS, over the control sockets. Full screen with keys on a
 * terminal (top-screen.ts); plain tables, one per refresh, otherwise.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from '../command.js';
import { callVm } from '../../control/client.js';
import { clientOptions, parseFlags, processIo, runReporting, type CommandIo } from '../../control/cli-support.js';
import { computeRows, renderTopText, sortRows, SORT_KEYS, type SortKey, type VmSample } from '../../control/top-model.js';
import { sampleVms } from '../../control/top-sampler.js';
import { UsageError } from '../../util/errors.js';

const usage = `usage: tkvm top [--interval SECONDS] [--sort KEY] [--iterations N]

Shows every running VM, refreshed each interval (default 1 s): state,
vCPUs, memory and RSS, exits per second (all vCPUs, and the top reasons),
and device I/O in bytes per second.

On a terminal it is a full screen: arrows (or j/k) select a VM, s changes
the sort order, p pauses, r resumes and x stops the selected VM, q quits.
When stdout is not a terminal it prints one plain table per refresh.

  --interval SECONDS  time between refreshes (0.2 to 3600, default 1)
  --sort KEY          name, exits, io, rss or cpus (default name)
  --iterations N      stop after N refreshes (default: until Ctrl-C or q)`;

function parseInterval(text: string | undefined): number {
  if (text === undefined) return 1000;
  const seconds = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(seconds >= 0.2 && seconds <= 3600)) throw new UsageError(`--interval must be between 0.2 and 3600 seconds, got ${JSON.stringify(text)}`);
  return Math.round(seconds * 1000);
}

function parseIterations(text: string | undefined): number {
  if (text === undefined) return Infinity;
  if (!/^[1-9]\d{0,8}$/.test(text)) throw new UsageError(`--iterations must be a positive integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

function parseSort(text: string | undefined): SortKey {
  if (text === undefined) return 'name';
  if (!(SORT_KEYS as readonly string[]).includes(text)) throw new UsageError(`--sort must be one of ${SORT_KEYS.join(', ')}, got ${JSON.stringify(text)}`);
  return text as SortKey;
}

export interface TopIo extends CommandIo {
  /** Whether the full screen may be used (stdin and stdout are terminals). */
  interactive?: boolean;
}

export function makeTopCommand(io: TopIo = processIo): Command {
  return {
    name: 'top',
    summary: 'live view of every running VM (exits, I/O, memory)',
    usage,
    run: (argv) =>
      runReporting(io, async () => {
        const { values } = parseFlags(argv, { interval: { type: 'string' }, iterations: { type: 'string' }, sort: { type: 'string' } }, false);
        const intervalMs = parseInterval(values.interval);
        const iterations = parseIterations(values.iterations);
        const sortKey = parseSort(values.sort);
        const options = clientOptions(io);
        // Ink draws no live frame when CI is set (is-in-ci): print tables there.
        const interactive = io.interactive ?? (process.stdout.isTTY === true && process.stdin.isTTY === true && io === processIo && !ciEnvironment());
        if (interactive && iterations === Infinity) {
          const { runTopScreen } = await import('../top-screen.js');
          await runTopScreen({
            sample: () => sampleVms(options),
            act: async (name, action) => {
              await callVm(name, action, action === 'stop' ? { force: false } : {}, options);
            },
            intervalMs,
            initialSort: sortKey,
          });
          return 0;
        }
        // Plain output: the first table comes after one interval, so that it has rates.
        let previous = new Map<string, VmSample>((await sampleVms(options)).map((s) => [s.info.name, s]));
        const controller = new AbortController();
        const onSigint = (): void => controller.abort();
        const signal = io.signal ?? controller.signal;
        if (!io.signal) process.on('SIGINT', onSigint);
        try {
          for (let i = 0; i < iterations && !signal.aborted; i++) {
            await sleep(intervalMs, undefined, { signal }).catch(() => {});
            if (signal.aborted) break;
            const samples = await sampleVms(options);
            io.stdout(`${new Date().toISOString()}\n${renderTopText(sortRows(computeRows(previous, samples), sortKey))}\n`);
            previous = new Map(samples.map((s) => [s.info.name, s]));
          }
        } finally {
          if (!io.signal) process.off('SIGINT', onSigint);
        }
        return 0;
      }),
  };
}

export const topCommand: Command = makeTopCommand();

/** True where Ink's is-in-ci would be: CI or CONTINUOUS_INTEGRATION set to anything but 0/false. */
function ciEnvironment(): boolean {
  return ['CI', 'CONTINUOUS_INTEGRATION'].some((key) => key in process.env && process.env[key] !== '0' && process.env[key] !== 'false');
}
