/**
 * Strict flag parsing shared by the subcommands, built on node:util
 * parseArgs. Node's own strict-mode errors are multi-line and worded for
 * developers; this wrapper parses leniently (tokens) and then checks every
 * token itself, so each mistake becomes a one-line UsageError (exit
 * status 2) that names the command and points at its help.
 */

import { parseArgs } from 'node:util';
import { UsageError } from '../util/errors.js';
import { quoteForMessage } from './quote.js';

export interface FlagSpec {
  type: 'string' | 'boolean';
  /** A string flag that may be given several times; its values are collected in order. */
  multiple?: boolean;
}

export type FlagSpecs = Record<string, FlagSpec>;

/** Parsed values: strings for string flags, true for boolean flags that were given. */
export type FlagValues<Specs extends FlagSpecs> = {
  [Name in keyof Specs]?: Specs[Name]['type'] extends 'string' ? (Specs[Name] extends { multiple: true } ? string[] : string) : boolean;
};

export interface ParsedCommandArgs<Specs extends FlagSpecs> {
  flags: FlagValues<Specs>;
  positionals: string[];
}

/** A usage error from subcommand `command`: `COMMAND: PROBLEM (see tkvm help COMMAND)`. */
export function commandUsageError(command: string, problem: string): UsageError {
  return new UsageError(`${command}: ${problem} (see tkvm help ${command})`);
}

/**
 * Parses `argv` (the arguments after the subcommand name) against `specs`.
 * Flags are long-only (`--name value` or `--name=value`); `--` ends flags.
 * Rejects unknown flags, string flags without a value, values given to
 * boolean flags, a flag given twice, and positionals unless allowed.
 */
export function parseCommandArgs<Specs extends FlagSpecs>(
  command: string,
  argv: readonly string[],
  specs: Specs,
  { allowPositionals = false }: { allowPositionals?: boolean } = {},
): ParsedCommandArgs<Specs> {
  const { tokens } = parseArgs({ args: [...argv], options: specs, strict: false, allowPositionals: true, tokens: true });
  const flags: Record<string, string | string[] | boolean> = {};
  const positionals: string[] = [];

  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') {
      if (!allowPositionals) {
        throw commandUsageError(command, `unexpected argument ${quoteForMessage(token.value)}`);
      }
      positionals.push(token.value);
      continue;
    }
    const spec = Object.hasOwn(specs, token.name) ? specs[token.name] : undefined;
    const flagName = `--${token.name}`;
    if (spec === undefined || !token.rawName.startsWith('--')) {
      throw commandUsageError(command, `unknown option ${quoteForMessage(token.rawName)}`);
    }
    if (Object.hasOwn(flags, token.name) && spec.multiple !== true) {
      throw commandUsageError(command, `option '${flagName}' given more than once`);
    }
    if (spec.type === 'string') {
      if (token.value === undefined) {
        throw commandUsageError(command, `option '${flagName}' needs a value`);
      }
      if (!token.inlineValue && token.value.startsWith('-') && token.value !== '-') {
        // `--kernel --cpus 2`: almost certainly a forgotten value.
        throw commandUsageError(
          command,
          `option '${flagName}' needs a value (got the option-like ${quoteForMessage(token.value)}; write ${flagName}=VALUE if that is meant)`,
        );
      }
      if (spec.multiple === true) flags[token.name] = [...((flags[token.name] as string[] | undefined) ?? []), token.value];
      else flags[token.name] = token.value;
    } else {
      if (token.value !== undefined) {
        throw commandUsageError(command, `option '${flagName}' does not take a value`);
      }
      flags[token.name] = true;
    }
  }
  return { flags: flags as FlagValues<Specs>, positionals };
}
