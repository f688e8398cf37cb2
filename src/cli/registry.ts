/**
 * Every `tkvm` subcommand, in the order `tkvm help` lists them. The
 * built-ins `help` and `version` live in dispatch.ts.
 */

import type { Command } from './command.js';
import { runCommand } from './commands/run.js';
import { setupCommand } from './commands/setup.js';
import { sandboxCommandDefinition } from './commands/sandbox.js';
import { listCommand } from './commands/list.js';
import { stopCommand } from './commands/stop.js';
import { pauseCommand } from './commands/pause.js';
import { resumeCommand } from './commands/resume.js';
import { debugCommand } from './commands/debug.js';
import { statCommand } from './commands/stat.js';
import { topCommand } from './commands/top.js';
import { perfCommand } from './commands/perf.js';
import { webCommand } from './commands/web.js';
import { firecrackerCommand } from './commands/firecracker.js';
import { snapshotCommand } from './commands/snapshot.js';

export const commands: readonly Command[] = [
  runCommand,
  sandboxCommandDefinition,
  setupCommand,
  // Management of running VMs, through their control sockets:
  listCommand,
  stopCommand,
  pauseCommand,
  resumeCommand,
  debugCommand,
  statCommand,
  topCommand,
  perfCommand,
  webCommand,
  // Firecracker's command line and HTTP API, for Firecracker tooling:
  firecrackerCommand,
  snapshotCommand,
];

/** The command called `name`, or undefined. */
export function findCommand(name: string): Command | undefined {
  return commands.find((command) => command.name === name);
}
