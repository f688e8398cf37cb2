#!/usr/bin/env node
/**
 * The `tkvm` executable (package.json "bin"). Everything but process
 * plumbing is in dispatch.ts.
 */

import path from 'node:path';
import { mark } from '../util/timing.js';
import { describeFailure, isDebugEnabled, runCli } from './dispatch.js';

mark('cli-loaded');

const debug = isDebugEnabled();

/** Run through a link named `firecracker` (as busybox applets are), tkvm is `tkvm firecracker`. */
function cliArguments(argv: readonly string[]): string[] {
  const invokedAs = path.basename(argv[1] ?? '').replace(/\.m?js$/, '');
  return invokedAs === 'firecracker' ? ['firecracker', ...argv.slice(2)] : argv.slice(2);
}

/** Errors that escape the command (a failed callback, say) get the same one-line report. */
function failAsynchronously(error: unknown): void {
  const { text, exitCode } = describeFailure(error, debug);
  process.stderr.write(text);
  process.exit(exitCode);
}
process.on('uncaughtException', failAsynchronously);
process.on('unhandledRejection', failAsynchronously);

// `tkvm help | head -1`: a reader that goes away is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') failAsynchronously(error);
  });
}

const exitCode = await runCli(cliArguments(process.argv), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
}, debug);

/** Resolves once everything written so far has been handed to the OS. */
function flush(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}
await Promise.all([flush(process.stdout), flush(process.stderr)]);
// Exit now even if the VMM left a handle open (a raw-mode stdin, a timer).
process.exit(exitCode);
