/** `tkvm resume NAME`: let a paused VM's vCPUs run again. */
import type { Command } from '../command.js';
import { callVm } from '../../control/client.js';
import { clientOptions, oneVmName, parseFlags, processIo, runReporting, type CommandIo } from '../../control/cli-support.js';

const usage = `usage: tkvm resume NAME

Resumes a VM paused with 'tkvm pause NAME'.`;

export function makeResumeCommand(io: CommandIo = processIo): Command {
  return {
    name: 'resume',
    summary: 'resume a paused VM',
    usage,
    run: (argv) =>
      runReporting(io, async () => {
        const { positionals } = parseFlags(argv, {}, true);
        const name = oneVmName(positionals, 'resume');
        await callVm(name, 'resume', {}, clientOptions(io));
        io.stdout(`${name}: running\n`);
        return 0;
      }),
  };
}

export const resumeCommand: Command = makeResumeCommand();
