/**
 * The `tkvm` front end: picks the subcommand, prints help and version, and
 * turns every error into one line on stderr plus an exit status. Kept
 * apart from main.ts (the process entry point) so it can be tested in
 * process.
 */

import type { Command } from './command.js';
import { commands, findCommand } from './registry.js';
import { readPackageVersion } from './version.js';
import { escapeControlCharacters, quoteForMessage } from './quote.js';
import { TkvmError, UsageError } from '../util/errors.js';

export interface CliStreams {
  stdout(text: string): void;
  stderr(text: string): void;
}

interface BuiltinCommand {
  name: string;
  summary: string;
}

const BUILTINS: readonly BuiltinCommand[] = [
  { name: 'help', summary: 'show this help, or the options of COMMAND' },
  { name: 'version', summary: 'print the tkvm version' },
];

export function mainUsage(): string {
  const listed: BuiltinCommand[] = [...commands, ...BUILTINS];
  const width = Math.max(...listed.map((command) => command.name.length)) + 3;
  const lines = listed.map((command) => `  ${command.name.padEnd(width)}${command.summary}`);
  return [
    'Usage: tkvm COMMAND [OPTIONS]',
    '       tkvm help [COMMAND] | tkvm --help | tkvm --version',
    '',
    'tkvm is a lightweight virtual machine monitor for Linux KVM: it boots a',
    'Linux kernel or a test guest directly in 64-bit mode, without firmware.',
    '',
    'Commands:',
    ...lines,
    '',
    "Run 'tkvm help COMMAND' for the options of a command.",
    'Set TKVM_DEBUG=1 to see stack traces of internal errors.',
  ].join('\n');
}

function unknownCommand(name: string): UsageError {
  return new UsageError(`unknown command ${quoteForMessage(name)} (see tkvm help)`);
}

/** Help flags count only before `--`, where they cannot be an option's value. */
function asksForHelp(argv: readonly string[]): boolean {
  for (const argument of argv) {
    if (argument === '--') return false;
    if (argument === '--help' || argument === '-h') return true;
  }
  return false;
}

function helpFor(topic: readonly string[]): string {
  if (topic.length === 0) return mainUsage();
  if (topic.length > 1) throw new UsageError('help takes at most one COMMAND (see tkvm help)');
  const name = topic[0] ?? '';
  if (name === 'help') return 'Usage: tkvm help [COMMAND]\n\nShows the list of commands, or the options of COMMAND.';
  if (name === 'version') return 'Usage: tkvm version (or tkvm --version)\n\nPrints the tkvm version.';
  const command = findCommand(name);
  if (command === undefined) throw unknownCommand(name);
  return command.usage;
}

async function dispatch(argv: readonly string[], streams: CliStreams): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h') {
    if (rest.length > 0) throw new UsageError(`unexpected argument ${quoteForMessage(rest[0] ?? '')} (see tkvm help)`);
    streams.stdout(`${mainUsage()}\n`);
    return 0;
  }
  if (first === 'help') {
    streams.stdout(`${helpFor(rest)}\n`);
    return 0;
  }
  if (first === 'version' || first === '--version') {
    if (rest.length > 0) throw new UsageError(`${first} takes no arguments (see tkvm help)`);
    streams.stdout(`${readPackageVersion()}\n`);
    return 0;
  }
  if (first.startsWith('-')) throw new UsageError(`unknown option ${quoteForMessage(first)} (see tkvm help)`);

  const command: Command | undefined = findCommand(first);
  if (command === undefined) throw unknownCommand(first);
  if (asksForHelp(rest)) {
    streams.stdout(`${command.usage}\n`);
    return 0;
  }
  return command.run(rest);
}

/**
 * What to print for an error that ended the command, and the exit status.
 * Without `debug`, the text is exactly one line and never a stack trace.
 */
export function describeFailure(error: unknown, debug: boolean): { text: string; exitCode: number } {
  const stack = debug && error instanceof Error && error.stack !== undefined ? `\n${error.stack}` : '';
  if (error instanceof TkvmError) {
    return { text: `tkvm: ${oneLine(error.message)}${stack}\n`, exitCode: error.exitCode };
  }
  const message = error instanceof Error ? error.message : String(error);
  const hint = debug ? '' : ' (rerun with TKVM_DEBUG=1 to see the stack trace)';
  return { text: `tkvm: internal error: ${oneLine(message)}${hint}${stack}\n`, exitCode: 1 };
}

function oneLine(message: string): string {
  return escapeControlCharacters(message.replace(/\s*[\r\n]+\s*/g, ' ').trim());
}

export function isDebugEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env['TKVM_DEBUG'];
  return value !== undefined && value !== '' && value !== '0';
}

/**
 * Runs `tkvm ARGV` and returns its exit status; never throws. Errors are
 * reported on `streams.stderr` as described by describeFailure.
 */
export async function runCli(argv: readonly string[], streams: CliStreams, debug = isDebugEnabled()): Promise<number> {
  try {
    return await dispatch(argv, streams);
  } catch (error) {
    const { text, exitCode } = describeFailure(error, debug);
    streams.stderr(text);
    return exitCode;
  }
}
