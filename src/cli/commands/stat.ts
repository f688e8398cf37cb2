/**
 * `tkvm stat NAME [--watch] [--json]`: per-vCPU exit counts, per-device
 * counters and host RSS; --watch refreshes every second until Ctrl-C.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from '../command.js';
import { callVm } from '../../control/client.js';
import { clientOptions, oneVmName, parseFlags, processIo, runReporting, type CommandIo } from '../../control/cli-support.js';
import { renderStats } from '../../control/format.js';

const usage = `usage: tkvm stat NAME [--watch] [--json]

Shows how often each vCPU left the guest, by exit reason, the counters of
each device, and the VMM's resident memory.

  --watch  refresh every second until Ctrl-C
  --json   print JSON (with --watch: one JSON object per line)`;

/** Time between two --watch refreshes. */
export const WATCH_INTERVAL_MS = 1000;

const CLEAR_SCREEN = '\x1b[H\x1b[2J';

/** An AbortSignal fired by Ctrl-C, and a function to stop listening for it. */
function interruptSignal(): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, release: () => process.off('SIGINT', onSigint) };
}

export function makeStatCommand(io: CommandIo = processIo): Command {
  return {
    name: 'stat',
    summary: 'show VM exit and device statistics',
    usage,
    run: (argv) =>
      runReporting(io, async () => {
        const { values, positionals } = parseFlags(argv, { watch: { type: 'boolean' }, json: { type: 'boolean' } }, true);
        const name = oneVmName(positionals, 'stat');
        const show = async (): Promise<void> => {
          const stats = await callVm(name, 'stat', {}, clientOptions(io));
          if (values.json) io.stdout(JSON.stringify(stats, null, values.watch ? undefined : 2) + '\n');
          else io.stdout((values.watch && io.isTty ? CLEAR_SCREEN : '') + renderStats(name, stats));
        };
        if (!values.watch) {
          await show();
          return 0;
        }
        const interrupt = io.signal ? { signal: io.signal, release: () => {} } : interruptSignal();
        try {
          while (!interrupt.signal.aborted) {
            await show();
            await sleep(WATCH_INTERVAL_MS, undefined, { signal: interrupt.signal }).catch(() => {});
          }
        } finally {
          interrupt.release();
        }
        return 0;
      }),
  };
}

export const statCommand: Command = makeStatCommand();
