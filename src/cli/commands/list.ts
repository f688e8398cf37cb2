/** `tkvm list [--json]`: the VMs running for this user (like `lkvm list`). */
import type { Command } from '../command.js';
import { scanVms } from '../../control/client.js';
import { clientOptions, parseFlags, processIo, runReporting, type CommandIo } from '../../control/cli-support.js';
import { renderVmTable } from '../../control/format.js';

const usage = `usage: tkvm list [--json]

Lists the VMs running for this user, with their pid, state, vCPU count,
memory size and uptime. Control sockets left by VMs that died are removed.

  --json   print a JSON array of VM info objects instead of a table`;

export function makeListCommand(io: CommandIo = processIo): Command {
  return {
    name: 'list',
    summary: 'list running VMs',
    usage,
    run: (argv) =>
      runReporting(io, async () => {
        const { values } = parseFlags(argv, { json: { type: 'boolean' } }, false);
        const listings = await scanVms(clientOptions(io));
        // A VM whose socket accepts but does not answer in time is shown as unresponsive.
        const vms = listings.map((l) => (l.status === 'running' ? l.info : { name: l.name, state: 'unresponsive' }));
        io.stdout(values.json ? JSON.stringify(vms, null, 2) + '\n' : renderVmTable(vms));
        return 0;
      }),
  };
}

export const listCommand: Command = makeListCommand();
