/**
 * Shared plumbing for the management commands (list, stop, pause, resume,
 * debug, stat): output streams, flag parsing and one-line error reporting.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { TkvmError, UsageError } from '../util/errors.js';

/** Where a command writes and which control directory it uses; tests pass their own. */
export interface CommandIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Control directory; undefined means controlDir(). */
  dir?: string;
  /** Ends `stat --watch`; undefined means Ctrl-C (SIGINT). */
  signal?: AbortSignal;
  /** Whether stdout is a terminal (`stat --watch` then redraws in place). */
  isTty?: boolean;
}

export const processIo: CommandIo = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  get isTty() {
    return process.stdout.isTTY === true;
  },
};

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs, with its errors turned into one-line UsageErrors. */
export function parseFlags<O extends Options>(argv: string[], options: O, allowPositionals: boolean) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const quoted = /'([^']+)'/.exec(message)?.[1];
    const code = (err as { code?: string }).code;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option ${quoted ?? message}`);
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new UsageError(`unexpected argument ${quoted ?? message}`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const flag = quoted?.split(' ')[0] ?? message;
      if (/ambiguous/.test(message)) throw new UsageError(`option ${flag} needs a value (write ${flag}=VALUE for a value that starts with -)`);
      const problem = /argument missing/.test(message) ? 'needs a value' : 'takes no value';
      throw new UsageError(`option ${flag} ${problem}`);
    }
    throw new UsageError(message.split('.')[0] ?? message);
  }
}

/** Runs a command body; prints any error as `tkvm: message` and returns its exit status. */
export async function runReporting(io: CommandIo, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof TkvmError) {
      io.stderr(`tkvm: ${err.message}\n`);
      return err.exitCode;
    }
    io.stderr(`tkvm: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

/** The single VM-name positional argument of pause/resume/debug/stat. */
export function oneVmName(positionals: string[], command: string): string {
  if (positionals.length === 0) throw new UsageError(`${command}: missing VM name (see tkvm list)`);
  if (positionals.length > 1) throw new UsageError(`${command}: unexpected argument ${positionals[1]}`);
  return positionals[0] as string;
}

/** Options for client calls made on behalf of a command. */
export function clientOptions(io: CommandIo): { dir?: string } {
  return io.dir === undefined ? {} : { dir: io.dir };
}
