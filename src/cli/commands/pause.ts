/** `tkvm pause NAME`: park every vCPU of a VM. */
import type { Command } from '../command.js';
import { callVm } from '../../control/client.js';
import { clientOptions, oneVmName, parseFlags, processIo, runReporting, type CommandIo } from '../../control/cli-support.js';

const usage = `usage: tkvm pause NAME

Stops running the VM's vCPUs until 'tkvm resume NAME'. Devices and guest
memory are kept; the guest's clock does not see the pause.`;

export function makePauseCommand(io: CommandIo = processIo): Command {
  return {
    name: 'pause',
    summary: 'pause a VM (all vCPUs stop running)',
    usage,
    run: (argv) =>
      runReporting(io, async () => {
        const { positionals } = parseFlags(argv, {}, true);
        const name = oneVmName(positionals, 'pause');
        await callVm(name, 'pause', {}, clientOptions(io));
        io.stdout(`${name}: paused\n`);
        return 0;
      }),
  };
}

export const pauseCommand: Command = makePauseCommand();
