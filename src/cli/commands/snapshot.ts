/** `tkvm snapshot NAME DIR [--resume | --stop]`: save a running VM to a snapshot directory. */
import { resolve } from 'node:path';
import type { Command } from '../command.js';
import { callVm } from '../../control/client.js';
import { clientOptions, parseFlags, processIo, runReporting, type CommandIo } from '../../control/cli-support.js';
import { SNAPSHOT_TIMEOUT_MS } from '../../control/server.js';
import { UsageError } from '../../util/errors.js';
import { formatSize } from '../size.js';

const usage = `usage: tkvm snapshot NAME DIR [--resume | --stop]

Pauses VM NAME, writes its state and guest memory to the directory DIR
(created if missing; an earlier snapshot there is replaced), and then lets
it run on (--resume, the default) or stops it (--stop). Start the saved VM
again, as often as you like, with 'tkvm run --restore DIR'. The memory file
is sparse: only pages the guest touched that are not all zero take space.
Disks are not copied: restore them yourself if the guest wrote to them
after the snapshot. See docs/snapshot.md.`;

export function makeSnapshotCommand(io: CommandIo = processIo): Command {
  return {
    name: 'snapshot',
    summary: 'save a VM to a snapshot directory (tkvm run --restore starts it again)',
    usage,
    run: (argv) =>
      runReporting(io, async () => {
        const { values, positionals } = parseFlags(argv, { resume: { type: 'boolean' }, stop: { type: 'boolean' } }, true);
        if (values.resume && values.stop) throw new UsageError('snapshot: give --resume or --stop, not both');
        if (positionals.length < 2) throw new UsageError('snapshot: needs a VM name and a directory (tkvm snapshot NAME DIR)');
        if (positionals.length > 2) throw new UsageError(`snapshot: unexpected argument ${positionals[2]}`);
        const [name, dirArg] = positionals as [string, string];
        if (dirArg === '') throw new UsageError('snapshot: the directory must not be empty');
        const after = values.stop ? 'stop' : 'resume';
        const r = await callVm(name, 'snapshot', { dir: resolve(dirArg), after }, { ...clientOptions(io), timeoutMs: SNAPSHOT_TIMEOUT_MS + 5000 });
        io.stdout(`${name}: snapshot in ${r.dir} (memory ${formatSize(r.dataPages * 4096)} of ${formatSize(r.memoryBytes)}, ${r.dataPages} of ${r.touchedPages} touched pages; ${r.elapsedMs.toFixed(0)} ms)${after === 'stop' ? '; stopped' : ''}\n`);
        return 0;
      }),
  };
}

export const snapshotCommand: Command = makeSnapshotCommand();
