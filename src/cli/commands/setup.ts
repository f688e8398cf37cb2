/**
 * `tkvm setup`: builds the default guest kernel and initramfs (see
 * src/guest/setup.ts); `tkvm run` without --kernel boots them.
 */

import { statSync } from 'node:fs';
import type { Command } from '../command.js';
import { commandUsageError, parseCommandArgs } from '../args.js';
import { runSetup, type SetupOptions, type SetupResult } from '../../guest/setup.js';

export const SETUP_USAGE = `Usage: tkvm setup [--jobs N] [--force]

Builds tkvm's default guest: a small Linux 6.1 kernel from Debian's
linux-source-6.1 package (config fragment and patches in guest/kernel/)
and an initramfs with busybox-static and guest/init; and tkvm's own passt
for --net user, from Debian trixie's source (scripts/build-passt.sh).
Installs the Debian packages it needs with apt-get when run as root. Results are cached in
$XDG_CACHE_HOME/tkvm (default ~/.cache/tkvm), keyed by their inputs, so
running it again is instant. The first build takes several minutes.

Options:
  --jobs N   parallel make jobs, 1 to 256 (default: the number of CPUs)
  --force    rebuild even when the cache is up to date`;

const SETUP_FLAGS = { jobs: { type: 'string' }, force: { type: 'boolean' } } as const;

export const MAX_JOBS = 256;

/** The setup options `argv` asks for; UsageError on bad flags. */
export function parseSetupArgs(argv: readonly string[]): Pick<SetupOptions, 'jobs' | 'force'> {
  const { flags } = parseCommandArgs('setup', argv, SETUP_FLAGS);
  const options: Pick<SetupOptions, 'jobs' | 'force'> = { force: flags.force === true };
  if (flags.jobs !== undefined) {
    const jobs = /^[0-9]+$/.test(flags.jobs) ? Number(flags.jobs) : NaN;
    if (!(jobs >= 1 && jobs <= MAX_JOBS)) throw commandUsageError('setup', `--jobs must be a whole number from 1 to ${MAX_JOBS}`);
    options.jobs = jobs;
  }
  return options;
}

function describe(label: string, path: string): string {
  const bytes = statSync(path).size;
  return `${label}: ${path} (${(bytes / 2 ** 20).toFixed(1)} MiB)`;
}

export function setupSummary(result: SetupResult): string {
  const passt = result.passt ? `passt: ${result.passt}\n` : '';
  return `${describe('kernel', result.kernel)}\n${describe('initrd', result.initrd)}\n${passt}`;
}

export function makeSetupCommand(
  setup: (options: SetupOptions) => Promise<SetupResult> = runSetup,
  stdout: (text: string) => void = (text) => void process.stdout.write(text),
): Command {
  return {
    name: 'setup',
    summary: 'build the default guest kernel and initramfs',
    usage: SETUP_USAGE,
    async run(argv) {
      const result = await setup(parseSetupArgs(argv));
      stdout(setupSummary(result));
      return 0;
    },
  };
}

export const setupCommand: Command = makeSetupCommand();
