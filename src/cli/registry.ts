/**
 * Every `tkvm` subcommand, in the order `tkvm help` lists them. The
 * built-ins `help` and `version` live in dispatch.ts.
 */

import type { Command } from './command.js';
import { runCommand } from './commands/run.js';

export const commands: readonly Command[] = [
  runCommand,
  // Management commands for running VMs (control socket) go here:
  // list, stop, pause, resume, debug, stat (src/cli/commands/*.ts).
];

/** The command called `name`, or undefined. */
export function findCommand(name: string): Command | undefined {
  return commands.find((command) => command.name === name);
}
