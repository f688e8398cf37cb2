/** `tkvm stop NAME|--all [--force]`: power a VM off, gracefully unless --force. */
import type { Command } from '../command.js';
import { callVm, ControlError, scanVms } from '../../control/client.js';
import { clientOptions, parseFlags, processIo, runReporting, type CommandIo } from '../../control/cli-support.js';
import { UsageError } from '../../util/errors.js';

const usage = `usage: tkvm stop NAME... | --all [--force]

Asks each named VM to power off: tkvm presses Ctrl-Alt-Del on the guest's
keyboard, which the default guest answers by powering off cleanly; a guest
that has not powered off after 10 seconds is stopped. With --force the VM
stops at once, like pulling the plug. --all stops every VM of this user.`;

export function makeStopCommand(io: CommandIo = processIo): Command {
  return {
    name: 'stop',
    summary: 'power off a VM (gracefully, or at once with --force)',
    usage,
    run: (argv) =>
      runReporting(io, async () => {
        const { values, positionals } = parseFlags(argv, { all: { type: 'boolean' }, force: { type: 'boolean' } }, true);
        if (values.all && positionals.length > 0) throw new UsageError('stop: give VM names or --all, not both');
        if (!values.all && positionals.length === 0) throw new UsageError('stop: missing VM name (or --all)');
        const force = values.force === true;
        const names = values.all
          ? (await scanVms(clientOptions(io))).map((l) => l.name)
          : positionals;
        let status = 0;
        for (const name of names) {
          try {
            await callVm(name, 'stop', { force }, clientOptions(io));
          } catch (err) {
            // A forced stop may end the VM before it replies: that is success.
            if (!(force && err instanceof ControlError && err.code === 'ERR_CONNECTION_CLOSED')) {
              if (!(err instanceof ControlError) || names.length === 1) throw err;
              io.stderr(`tkvm: ${name}: ${err.message}\n`);
              status = 1;
              continue;
            }
          }
          io.stdout(force ? `${name}: stopped\n` : `${name}: asked to power off\n`);
        }
        return status;
      }),
  };
}

export const stopCommand: Command = makeStopCommand();
